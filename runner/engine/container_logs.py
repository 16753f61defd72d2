"""A container's stdout and stderr, streamed into the run directory, with their last lines."""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from runner.engine.artifacts import NotWritten, create_inside
from runner.engine.capture import require_exited
from runner.engine.node import NodeContainer
from runner.model.errors import EnvironmentProblem
from runner.model.repo import is_safe_relative

TAIL_MAX_CHARS = 16384  # the manifest schema's limit for a log's tail
TAIL_WINDOW = 4 * TAIL_MAX_CHARS  # bytes: enough for that many characters of UTF-8


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


def stream_logs(
    container: NodeContainer,
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


def _write_log(
    container: NodeContainer,
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
