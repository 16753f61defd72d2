"""The gate every member of a container's archive passes before it is kept: links, devices,
names that climb out, duplicates, sizes and counts, within a container's limits."""

from __future__ import annotations

import re
import tarfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

from runner.model.limits import CAPTURE_MAX_BYTES
from runner.model.problems import printable

MAX_NAME = 1024  # the manifest schema's limit for a relative path
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")


@dataclass(frozen=True, kw_only=True)
class CaptureLimits:
    """How much one container may hand back."""

    max_file_bytes: int = 1 << 30
    """A file larger than this is refused and its bytes are not kept."""
    max_total_bytes: int = CAPTURE_MAX_BYTES
    """Files are no longer kept once the container's total would exceed this."""
    max_members: int = 10_000
    """Archive members (files, folders, links...) read at most."""
    max_depth: int = 32
    """Path components of a name, at most."""


@dataclass(kw_only=True)
class CaptureBudget:
    """What one container has handed back so far, over every archive copied out of it.

    The caps of :class:`CaptureLimits` on members and total bytes hold per container:
    a container that changed a hundred paths gets one budget, not one per path.
    """

    members: int = 0
    total_bytes: int = 0
    total_reached: bool = False


class MemberGate:
    """Decides, member by member, which files of a container's archive are kept.

    ``top`` is the archive's top-level name (the source's base name); member
    paths are made relative to it. Everything not kept for a reason is
    recorded in :attr:`refused`; folders and files ``select`` turns down are
    skipped silently. :attr:`stopped` turns true when the archive has too
    many members to read further.
    """

    def __init__(
        self,
        *,
        top: str,
        limits: CaptureLimits,
        select: Callable[[str], bool] | None = None,
        budget: CaptureBudget | None = None,
    ) -> None:
        self.top = top
        self.limits = limits
        self.select = select
        self.refused: list[str] = []
        self.stopped = False
        self.budget = budget if budget is not None else CaptureBudget()
        self._files: dict[str, str] = {}  # folded name -> name as kept
        self._folders: dict[str, str] = {}  # folded folder -> a file kept in it

    def admit(self, member: tarfile.TarInfo) -> str | None:
        """The relative path to keep ``member`` under, or None when it is not kept."""
        self.budget.members += 1
        if self.budget.members > self.limits.max_members:
            self.stopped = True
            self.refused.append(
                f"more than {self.limits.max_members} archive members from this container: "
                "the rest were not read"
            )
            return None
        if member.isdir() and member.name.rstrip("/") == self.top:
            return None
        path = self._relative(member.name)
        problem = self._path_problem(member.name, path)
        if problem:
            self.refused.append(problem)
            return None
        if member.isdir() or (self.select is not None and not self.select(path)):
            return None
        target = self._relative(member.linkname) if member.islnk() else member.linkname
        problem = (
            _kind_problem(member, path, target)
            or self._name_problem(path)
            or self._size_problem(path, member.size)
        )
        if problem:
            self.refused.append(problem)
            return None
        self._keep(path, member.size)
        return path

    def _relative(self, name: str) -> str:
        """``name`` without the top folder; names outside it come back whole."""
        if name == self.top:
            return name  # the source is a single file
        return name.removeprefix(self.top + "/").removesuffix("/")

    def _path_problem(self, name: str, path: str) -> str | None:
        if name != self.top and not name.startswith(self.top + "/"):
            return f"{printable(name)}: path leaves the output directory"
        return path_problem(path, max_depth=self.limits.max_depth)

    def _name_problem(self, path: str) -> str | None:
        folded = _fold(path)
        if folded in self._files:
            kept = self._files[folded]
            if kept == path:
                return f"{path}: duplicate name, the first one was kept"
            return f"{path}: same name as {kept} but for case, the first one was kept"
        if folded in self._folders:
            return f"{path}: clashes with the folder of {self._folders[folded]}"
        parents = (str(folder) for folder in PurePosixPath(folded).parents)
        clash = next((self._files[p] for p in parents if p in self._files), None)
        return f"{path}: clashes with the file {clash}" if clash else None

    def _size_problem(self, path: str, size: int) -> str | None:
        if size > self.limits.max_file_bytes:
            return f"{path}: {size} bytes is over the {self.limits.max_file_bytes}-byte cap"
        budget = self.budget
        if budget.total_reached or budget.total_bytes + size > self.limits.max_total_bytes:
            budget.total_reached = True
            return (
                f"{path}: not kept, the container's total reached the "
                f"{self.limits.max_total_bytes}-byte cap"
            )
        return None

    def _keep(self, path: str, size: int) -> None:
        folded = _fold(path)
        self._files[folded] = path
        for folder in PurePosixPath(folded).parents:
            self._folders.setdefault(str(folder), path)
        self.budget.total_bytes += size


def path_problem(path: str, *, max_depth: int = CaptureLimits.max_depth) -> str | None:
    """Why ``path``, a name from a container made relative, cannot be kept; None when it can.

    The rule for every name copied out of a container, so that it can name a file under
    the run directory and a manifest's ``outputs`` entry.
    """
    parts = path.split("/")
    if path.startswith("/") or ".." in parts:
        return f"{printable(path)}: path leaves the output directory"
    if _CONTROL.search(path):
        return f"{printable(path)}: name has a backslash or a control character"
    if "" in parts or "." in parts:
        return f"{printable(path)}: name is not a plain relative path"
    if len(path) > MAX_NAME:
        return f"{printable(path[:80])}...: name is longer than {MAX_NAME} characters"
    if len(parts) > max_depth:
        return f"{path}: {len(parts)} levels deep, over the limit of {max_depth}"
    return None


def _kind_problem(member: tarfile.TarInfo, path: str, target: str) -> str | None:
    if member.issym():
        return f"link {path} -> {printable(target)}: links are not kept"
    if member.islnk():
        return f"hard link {path} -> {printable(target)}: links are not kept"
    if member.ischr() or member.isblk():
        return f"{path}: device files are not kept"
    if member.isfifo():
        return f"{path}: FIFOs are not kept"
    if not member.isreg():
        return f"{path}: only regular files are kept"
    return None


def _fold(path: str) -> str:
    """The name a case-insensitive file system (macOS, Windows) would see."""
    return unicodedata.normalize("NFC", path).casefold()
