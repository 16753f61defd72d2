"""A run in progress leaves ``pending.json`` in its run directory until its manifest is written.

It holds what the manifest needs that only the runner knew (the plan, code,
trigger, images, engines) and who runs it (host, pid, the process's start
time). If the runner dies (SIGKILL, a crash, a lost machine) the record is
what ``radiops recover`` finishes the run from; a record whose runner still
lives is left alone, so two runners can share a repository and a testbed.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.model.files import write_atomic

PENDING = "pending.json"
FORMAT = 1


def runner_identity() -> dict[str, Any]:
    """This process: host, pid and start time (a reused pid has another start time)."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": _start_time(os.getpid())}


def is_alive(identity: Mapping[str, Any]) -> bool | None:
    """True/False for a runner of this host; None when it ran elsewhere (cannot tell)."""
    if identity.get("host") != socket.gethostname():
        return None
    pid = identity.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    started = _start_time(pid)
    return started is not None and started == identity.get("started")


def write_pending(run_dir: Path, record: Mapping[str, Any]) -> None:
    data = {"format": FORMAT, "runner": runner_identity(), **record}
    write_atomic(run_dir / PENDING, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_pending(path: Path) -> dict[str, Any] | None:
    """The record, or None when it is unreadable or of another format."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None
