"""Where bytes copied out of a container land: the content-addressed :class:`ArtifactStore`
and files created inside the run directory, through no link, hashed as they are written."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, BinaryIO

from runner.model.files import LinkInTheWay, create_file, open_folder

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer as Buffer

_HEX = re.compile(r"[0-9a-f]{64}")
_STORE_TMP = "tmp"  # where objects are written before they get their name


class NotWritten(Exception):
    """A file that passed the gate but could not be written where it belongs."""


class ArtifactStore:
    """A content-addressed directory: ``<root>/sha256/<ab>/<hex>``.

    Objects are written to ``<root>/tmp`` and appear under their final name
    only when complete; an object already there is not rewritten. ``base``
    (``root`` or a folder above it, e.g. the repository for its
    ``.radiops/artifacts``) is trusted: below it no link is followed.
    """

    def __init__(self, root: Path, *, base: Path | None = None) -> None:
        self.root = root
        self.base = root if base is None else base
        self._below = root.relative_to(self.base).as_posix()

    def location(self, sha256: str) -> str:
        """The manifest's name for an object: ``cas://sha256/<hex>``."""
        return f"cas://sha256/{_checked_hex(sha256)}"

    def path(self, sha256: str) -> Path:
        """Where the object with this digest lives."""
        return self.root / "sha256" / sha256[:2] / _checked_hex(sha256)

    def put(self, pieces: Iterable[Buffer]) -> tuple[str, int]:
        """Store the bytes of ``pieces``; their sha256 (hex) and size."""
        if not self.base.is_dir():  # trusted: made as asked, links and all
            self.base.mkdir(parents=True, exist_ok=True)
        tmp_fd = open_folder(self.base, f"{self._below}/{_STORE_TMP}")
        name = f"object-{secrets.token_hex(8)}"
        try:
            with os.fdopen(create_file(name, tmp_fd, 0o444), "wb") as out:
                digest, size = copy_hashed(pieces, out)
            final_fd = open_folder(self.base, f"{self._below}/sha256/{digest[:2]}")
            try:
                _publish(name, tmp_fd, digest, final_fd, size)
            finally:
                os.close(final_fd)
        finally:
            with suppress(FileNotFoundError):
                os.unlink(name, dir_fd=tmp_fd)
            os.close(tmp_fd)
        return digest, size


def artifact_store(path: Path, repo_root: Path) -> ArtifactStore:
    """The store at ``path``; inside the repository, reached from its root through no link."""
    return ArtifactStore(path, base=repo_root if path.is_relative_to(repo_root) else None)


def _publish(name: str, tmp_fd: int, digest: str, final_fd: int, size: int) -> None:
    try:  # unlike a rename, a link never replaces an object
        os.link(name, digest, src_dir_fd=tmp_fd, dst_dir_fd=final_fd, follow_symlinks=False)
    except FileExistsError:
        # Objects are not fsynced (docker cp does not sync either), so after a
        # crash one may be cut short: replace it if so.
        found = os.stat(digest, dir_fd=final_fd, follow_symlinks=False)
        if found.st_size != size or not S_ISREG(found.st_mode):
            os.replace(name, digest, src_dir_fd=tmp_fd, dst_dir_fd=final_fd)


def copy_hashed(pieces: Iterable[Buffer], out: BinaryIO) -> tuple[str, int]:
    """Write ``pieces`` to ``out``; the sha256 (hex) and size of what was written."""
    digest = hashlib.sha256()
    size = 0
    for piece in pieces:
        digest.update(piece)
        size += out.write(piece)
    return digest.hexdigest(), size


@contextmanager
def create_inside(base: Path, relative: str, *, what: str) -> Iterator[BinaryIO]:
    """A new file ``base/relative``, opened for writing, never through a link.

    Every folder on the way is reached with :func:`runner.model.files.open_folder`
    and the file is created with O_EXCL, so a link planted in ``base`` (or
    swapped in meanwhile) cannot redirect the write. A file that fails
    half-way is removed. NotWritten names ``what`` when it cannot be.
    """
    if not (base / relative).resolve().is_relative_to(base.resolve()):
        raise NotWritten(f"{what}: not written, {relative} leads out of the run directory")
    folders, _, name = relative.rpartition("/")
    base.mkdir(parents=True, exist_ok=True)
    try:
        folder_fd = open_folder(base, folders)
    except LinkInTheWay:
        raise NotWritten(
            f"{what}: not written, a link or a file is in the way of {relative}"
        ) from None
    try:
        fd = create_file(name, folder_fd)
    except FileExistsError:
        os.close(folder_fd)
        raise NotWritten(f"{what}: not written, {relative} already exists") from None
    except BaseException:
        os.close(folder_fd)
        raise
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
    except BaseException:
        with suppress(OSError):
            os.unlink(name, dir_fd=folder_fd)
        raise
    finally:
        os.close(folder_fd)


def _checked_hex(sha256: str) -> str:
    if not _HEX.fullmatch(sha256):
        raise ValueError(f"not a sha256 digest: {sha256!r}")
    return sha256
