"""Copy results out of an exited container: safely, streaming, hashed in one pass.

CorteXlab's results model: per container, keep its stdout and stderr and the
files it wrote. Everything read from a container is hostile: the archive the
engine streams is never extracted by ``tarfile``; each member is checked by a
:class:`MemberGate` (links, devices, names that climb out, duplicates, sizes,
counts) and only regular files are written, under paths this module builds,
inside the run directory or the content-addressed :class:`ArtifactStore`.
Memory stays flat whatever the size of the outputs: bytes go from the socket
to disk in chunks, through sha256 on the way.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import os
import re
import secrets
import tarfile
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from stat import S_ISREG
from typing import TYPE_CHECKING, BinaryIO, Literal

import docker.errors
import requests.exceptions
from docker.models.containers import Container

from runner.model.errors import EnvironmentProblem
from runner.model.files import LinkInTheWay, create_file, open_folder
from runner.model.limits import CAPTURE_MAX_BYTES
from runner.model.problems import printable
from runner.model.repo import is_safe_relative

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer as Buffer

#: Largest piece asked of the engine's HTTP stream (it sends 32 KiB chunks):
#: file data flows in pieces of this size at most, never a whole file.
STREAM_CHUNK = 64 << 10
TAIL_MAX_CHARS = 16384  # the manifest schema's limit for a log's tail
TAIL_WINDOW = 4 * TAIL_MAX_CHARS  # bytes: enough for that many characters of UTF-8
MAX_NAME = 1024  # the manifest schema's limit for a relative path
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")
_HEX = re.compile(r"[0-9a-f]{64}")
_STORE_TMP = "tmp"  # where objects are written before they get their name
_MEDIA_TYPES = mimetypes.MimeTypes()  # Python's own table, not the host's /etc/mime.types


class NotWritten(Exception):
    """A file that passed the gate but could not be written where it belongs."""


class NotReadable(Exception):
    """A single file asked of a container that is not one (a link, a folder...) or too big."""


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


@dataclass(frozen=True, kw_only=True)
class CapturedFile:
    """One file kept from a container, as the manifest's ``outputs`` lists it."""

    path: str
    """Relative POSIX path under the captured source, checked safe."""
    size: int
    sha256: str
    media_type: str
    storage_kind: Literal["inline", "store"]
    location: str
    """inline: path relative to the run directory; store: ``cas://sha256/<hex>``."""


@dataclass(frozen=True, kw_only=True)
class Capture:
    """What was kept from one container, and one plain message per thing that was not."""

    files: tuple[CapturedFile, ...]
    refused: tuple[str, ...]
    total_bytes: int


@dataclass(frozen=True, kw_only=True)
class LogFile:
    """One output stream of a container, stored in the run directory."""

    stream: Literal["stdout", "stderr"]
    path: str
    """Relative to the run directory, e.g. ``logs/rx-0.stdout``."""
    size: int
    sha256: str
    truncated: bool
    """The stream was longer than the stored file (its beginning was kept)."""
    tail: str
    """The stream's last lines, for summaries."""


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


def capture_tree(
    container: Container,
    source: str,
    *,
    run_dir: Path,
    prefix: str,
    store: ArtifactStore,
    inline_max: int,
    limits: CaptureLimits = CaptureLimits(),
    select: Callable[[str], bool] | None = None,
    budget: CaptureBudget | None = None,
) -> Capture:
    """Copy the files under ``source`` (absolute, in the exited container) out of it.

    A file of at most ``inline_max`` bytes goes to ``run_dir/prefix/<path>``;
    a bigger one into ``store``. ``select(path)`` picks the files to keep
    (None keeps all). What is not kept is listed in :attr:`Capture.refused`;
    a missing ``source`` is one such message. Give every copy out of one container
    the same ``budget``: the caps on members and bytes are the container's.
    """
    if not source.startswith("/"):
        raise ValueError(f"source must be an absolute path in the container, not {source!r}")
    require_exited(container)
    try:
        chunks, stat = container.get_archive(source, chunk_size=STREAM_CHUNK)
    except docker.errors.NotFound:
        return Capture(files=(), refused=(f"{source}: not found in the container",), total_bytes=0)
    except docker.errors.APIError as exc:
        raise EnvironmentProblem(f"cannot copy {source} out of {container.name}: {exc}") from None
    top = str(stat["name"]) if stat and stat.get("name") else PurePosixPath(source).name
    try:
        return capture_stream(
            chunks,
            top=top,
            run_dir=run_dir,
            prefix=prefix,
            store=store,
            inline_max=inline_max,
            limits=limits,
            select=select,
            budget=budget,
        )
    except requests.exceptions.RequestException as exc:
        raise EnvironmentProblem(f"copying {source} out of {container.name} broke: {exc}") from None


def capture_stream(
    chunks: Iterator[bytes],
    *,
    top: str,
    run_dir: Path,
    prefix: str,
    store: ArtifactStore,
    inline_max: int,
    limits: CaptureLimits = CaptureLimits(),
    select: Callable[[str], bool] | None = None,
    budget: CaptureBudget | None = None,
) -> Capture:
    """:func:`capture_tree` on a tar stream already open: ``chunks`` of an archive.

    ``top`` is the archive's top-level name, the base name of the source.
    """
    if not is_safe_relative(prefix):
        raise ValueError(f"prefix must be a safe relative path, not {prefix!r}")
    gate = MemberGate(top=top, limits=limits, select=select, budget=budget)
    files: list[CapturedFile] = []
    try:
        reader = ChunkReader(chunks)
        with tarfile.open(fileobj=reader, mode="r:") as tar:
            for member in tar:
                path = gate.admit(member)
                if gate.stopped:
                    break
                if path is None:
                    continue
                # tarfile has just read the member's headers: its data comes next
                reader.seek(member.offset_data)
                data = reader.pieces(member.size)
                try:
                    files.append(_keep(data, member.size, path, run_dir, prefix, store, inline_max))
                except NotWritten as exc:
                    gate.refused.append(str(exc))
    except (tarfile.ReadError, EOFError) as exc:
        gate.refused.append(f"the archive of {top} broke off ({exc}): the rest was not read")
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # ends the engine's stream when we stopped early
    return Capture(
        files=tuple(files),
        refused=tuple(gate.refused),
        total_bytes=sum(f.size for f in files),
    )


def read_small_file(container: Container, path: str, max_bytes: int) -> bytes | None:
    """The bytes of one regular file of at most ``max_bytes`` in the exited container.

    None when there is no such file. What the container may have put there
    instead (a link, a folder, a device, something bigger) is refused with
    :class:`NotReadable`; at most ``max_bytes`` of file data are read.
    """
    require_exited(container)
    try:
        chunks, _ = container.get_archive(path, chunk_size=STREAM_CHUNK)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as exc:
        raise EnvironmentProblem(f"cannot copy {path} out of {container.name}: {exc}") from None
    try:
        reader = ChunkReader(chunks)
        with tarfile.open(fileobj=reader, mode="r:") as tar:
            member = tar.next()
            if member is None or not member.isreg():
                raise NotReadable(f"{path}: not a regular file")
            if member.size > max_bytes:
                raise NotReadable(f"{path}: {member.size} bytes, over the limit of {max_bytes}")
            reader.seek(member.offset_data)
            return b"".join(bytes(piece) for piece in reader.pieces(member.size))
    except (tarfile.ReadError, EOFError) as exc:
        raise NotReadable(f"{path}: the archive broke off ({exc})") from None
    except requests.exceptions.RequestException as exc:
        raise EnvironmentProblem(f"copying {path} out of {container.name} broke: {exc}") from None
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def changed_paths(container: Container) -> list[str]:
    """Absolute paths the container changed or added (``docker diff``), sorted."""
    return sorted(
        str(change["Path"]) for change in container.diff() or [] if change["Kind"] in (0, 1)
    )


def stream_logs(
    container: Container,
    *,
    run_dir: Path,
    prefix: str,
    tail_lines: int = 50,
    max_bytes: int = 64 << 20,
) -> list[LogFile]:
    """Write the exited container's stdout and stderr to ``run_dir/prefix.stdout|.stderr``.

    Each stream is kept up to ``max_bytes`` (then ``truncated``) and read to
    its end in any case: its last ``tail_lines`` lines (at most 16384
    characters) go to ``tail``.
    """
    require_exited(container)
    if not is_safe_relative(prefix):
        raise ValueError(f"prefix must be a safe relative path, not {prefix!r}")
    try:
        return [
            _write_log(container, stream, run_dir, f"{prefix}.{stream}", tail_lines, max_bytes)
            for stream in ("stdout", "stderr")
        ]
    except NotWritten as exc:
        raise EnvironmentProblem(f"cannot keep the logs of {container.name}: {exc}") from None


def require_exited(container: Container) -> None:
    """EnvironmentProblem unless the container has exited: results are copied only after."""
    container.reload()
    if container.status != "exited":
        raise EnvironmentProblem(
            f"container {container.name} is {container.status}: "
            "its results are copied out only after it has exited"
        )


def copy_hashed(pieces: Iterable[Buffer], out: BinaryIO) -> tuple[str, int]:
    """Write ``pieces`` to ``out``; the sha256 (hex) and size of what was written."""
    digest = hashlib.sha256()
    size = 0
    for piece in pieces:
        digest.update(piece)
        size += out.write(piece)
    return digest.hexdigest(), size


def media_type(path: str) -> str:
    """The media type a file's name suggests, application/octet-stream when unsure."""
    kind, encoding = _MEDIA_TYPES.guess_type(path, strict=True)
    if encoding == "gzip":
        return "application/gzip"
    if kind is None or encoding is not None:
        return "application/octet-stream"
    return kind


class ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (the engine's HTTP stream).

    Reads return exactly the bytes asked for, short only at the end, and it
    seeks forward only (by skipping): enough for ``tarfile``'s ``r:`` mode to
    read headers. File data is taken with :meth:`pieces`, straight from the
    chunks: ``r|`` mode and ``extractfile`` copy every byte three times more.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._chunk = b""
        self._at = 0  # in self._chunk
        self._position = 0  # in the whole stream

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset if whence == io.SEEK_SET else self._position + offset
        if whence == io.SEEK_END or target < self._position:
            raise io.UnsupportedOperation("the stream only seeks forward")
        while self._position < target and self._fill():
            step = min(target - self._position, len(self._chunk) - self._at)
            self._at += step
            self._position += step
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        pieces: list[bytes] = []
        wanted = size
        while wanted > 0 and self._fill():
            if self._at == 0 and wanted >= len(self._chunk):
                piece = self._chunk  # a whole chunk: no copy
            else:
                piece = self._chunk[self._at : self._at + wanted]
            self._at += len(piece)
            wanted -= len(piece)
            pieces.append(piece)
        self._position += size - wanted
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def pieces(self, size: int) -> Iterator[memoryview]:
        """The next ``size`` bytes, in the pieces they arrived in (no copies)."""
        while size > 0 and self._fill():
            step = min(size, len(self._chunk) - self._at)
            yield memoryview(self._chunk)[self._at : self._at + step]
            self._at += step
            self._position += step
            size -= step
        if size > 0:
            raise tarfile.ReadError("unexpected end of data")

    def _fill(self) -> bool:
        """Make sure unread bytes are in hand; False at the end of the stream."""
        while self._at >= len(self._chunk):
            chunk = next(self._chunks, None)
            if chunk is None:
                return False
            self._chunk, self._at = chunk, 0
        return True


def _keep(
    data: Iterable[Buffer],
    size: int,
    path: str,
    run_dir: Path,
    prefix: str,
    store: ArtifactStore,
    inline_max: int,
) -> CapturedFile:
    # The member's header size is exactly how many bytes follow it, so the
    # destination is known before the first byte.
    if size <= inline_max:
        location = f"{prefix}/{path}"
        with create_inside(run_dir, location, what=path) as out:
            digest, written = copy_hashed(data, out)
        kind: Literal["inline", "store"] = "inline"
    else:
        digest, written = store.put(data)
        location, kind = store.location(digest), "store"
    return CapturedFile(
        path=path,
        size=written,
        sha256=digest,
        media_type=media_type(path),
        storage_kind=kind,
        location=location,
    )


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


def _write_log(
    container: Container,
    stream: Literal["stdout", "stderr"],
    run_dir: Path,
    location: str,
    tail_lines: int,
    max_bytes: int,
) -> LogFile:
    tail = _Tail()
    digest = hashlib.sha256()
    size = seen = 0
    chunks = container.logs(
        stdout=stream == "stdout", stderr=stream == "stderr", stream=True, follow=False
    )
    try:
        with create_inside(run_dir, location, what=location) as out:
            # Read to the end even past max_bytes: the tail is the stream's own
            # end (where the error usually is), not the end of what was kept.
            for chunk in chunks:
                tail.feed(chunk)
                kept = chunk[: max(max_bytes - size, 0)]
                digest.update(kept)
                out.write(kept)
                size += len(kept)
                seen += len(chunk)
    finally:
        chunks.close()
    return LogFile(
        stream=stream,
        path=location,
        size=size,
        sha256=digest.hexdigest(),
        truncated=seen > size,
        tail=tail.lines(tail_lines),
    )


class _Tail:
    """The last bytes of a stream, enough for its last lines, in bounded memory."""

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._size = 0

    def feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._size += len(chunk)
        while self._size - len(self._chunks[0]) >= TAIL_WINDOW:
            self._size -= len(self._chunks.popleft())

    def lines(self, count: int) -> str:
        if count <= 0:
            return ""
        text = b"".join(self._chunks)[-TAIL_WINDOW:].decode("utf-8", errors="replace")
        return "".join(text.splitlines(keepends=True)[-count:])[-TAIL_MAX_CHARS:]


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


def _checked_hex(sha256: str) -> str:
    if not _HEX.fullmatch(sha256):
        raise ValueError(f"not a sha256 digest: {sha256!r}")
    return sha256
