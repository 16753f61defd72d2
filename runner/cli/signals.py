"""Ctrl-C and SIGTERM (a cancelled CI job) as a flag the runs watch, never an exception."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def cancellable() -> Iterator[tuple[threading.Event, list[int]]]:
    """SIGINT and SIGTERM set an event instead of raising: the runs stop and record."""
    cancel = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        cancel.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield cancel, received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
