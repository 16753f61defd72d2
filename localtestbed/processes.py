"""Processes by pid, as /proc shows them: alive or not, started, stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

#: how often a wait looks again
POLL_S = 0.1


def read_pid(path: Path) -> int | None:
    """The pid written in ``path``, or None when there is none."""
    try:
        digits = "".join(ch for ch in path.read_text() if ch.isdigit())
    except OSError:
        return None
    return int(digits) if digits else None


def alive(pid: int | None, name: str) -> bool:
    """True when ``pid`` is a live (not zombie) process whose name is ``name``."""
    if pid is None or pid <= 0:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    if state == "Z":
        reap(pid)
        return False
    return comm == name


def reap(pid: int) -> None:
    """Collect ``pid``'s exit status when it is a child of this process."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def spawn(command: list[str], log: Path, banner: str, environment: Mapping[str, str]) -> int:
    """Start ``command`` in a session of its own, output appended to ``log``; its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        out.write(f"\n==== {stamp}: {banner}\n".encode())
        out.flush()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env={**os.environ, **environment},
        )
    return process.pid


def terminate(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)


def wait_gone(pid: int, name: str, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``pid`` to end; whether it did."""
    deadline = time.monotonic() + seconds
    while alive(pid, name):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_S)
    return True


def stop(pid: int, name: str, grace: float) -> bool:
    """SIGTERM, then SIGKILL after ``grace`` seconds; False if it survives even that."""
    terminate(pid)
    if wait_gone(pid, name, grace):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return wait_gone(pid, name, 5)


def remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
