"""Progress for people and for CI logs: one line per event, safe from many threads."""

from __future__ import annotations

import sys
import threading
import time
from typing import Protocol, TextIO

from runner.model.units import format_duration


class Reporter(Protocol):
    def line(self, text: str) -> None:
        """Show one line of progress."""


COLOURS = {"succeeded": "32", "failed": "31", "timeout": "33", "cancelled": "33", "error": "31"}


class LineReporter:
    """Timestamped lines on a stream (stderr by default); at a terminal, states in colour."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.colour = self.stream.isatty()
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        if self.colour:
            for word, code in COLOURS.items():
                text = text.replace(f" {word}", f" \x1b[{code}m{word}\x1b[0m")
        with self._lock:
            self.stream.write(f"{time.strftime('%H:%M:%S')} {text}\n")
            self.stream.flush()


def progress_line(name: str, done: int, total: int, elapsed_s: float, *, repeat: int = 1) -> str:
    """``sweep: 2 of 6 runs done in 1m10s, about 2m20s left``: a sweep's overall progress.

    Repeated runs count one by one: ``sweep: 4 of 15 runs (3 points x 5 repetitions) done
    in ...``. The time left assumes the runs still to come take as long, on average, as
    those done (their parallelism included).
    """
    points = total // repeat
    shape = f" ({points} point{'s' if points != 1 else ''} x {repeat} repetitions)"
    shape = shape if repeat > 1 else ""
    text = f"{name}: {done} of {total} runs{shape} done in {format_duration(round(elapsed_s))}"
    if 0 < done < total:  # whole seconds: a sweep's estimate is not better than that
        text += f", about {format_duration(round(elapsed_s / done * (total - done)))} left"
    return text
