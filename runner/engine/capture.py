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

import io
import mimetypes
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

import docker.errors
import requests.exceptions

from runner.engine.artifacts import ArtifactStore, NotWritten, copy_hashed, create_inside
from runner.engine.member_gate import CaptureBudget, CaptureLimits, MemberGate
from runner.engine.node import NodeContainer
from runner.model.errors import EnvironmentProblem
from runner.model.repo import is_safe_relative

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer as Buffer

#: Largest piece asked of the engine's HTTP stream (it sends 32 KiB chunks):
#: file data flows in pieces of this size at most, never a whole file.
STREAM_CHUNK = 64 << 10
_MEDIA_TYPES = mimetypes.MimeTypes()  # Python's own table, not the host's /etc/mime.types


class NotReadable(Exception):
    """A single file asked of a container that is not one (a link, a folder...) or too big."""


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


def capture_tree(
    container: NodeContainer,
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


def read_small_file(container: NodeContainer, path: str, max_bytes: int) -> bytes | None:
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


def changed_paths(container: NodeContainer) -> list[str]:
    """Absolute paths the container changed or added (``docker diff``), sorted."""
    return sorted(
        str(change["Path"]) for change in container.diff() or [] if change["Kind"] in (0, 1)
    )


def require_exited(container: NodeContainer) -> None:
    """EnvironmentProblem unless the container has exited: results are copied only after."""
    container.reload()
    if container.status != "exited":
        raise EnvironmentProblem(
            f"container {container.name} is {container.status}: "
            "its results are copied out only after it has exited"
        )


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
