"""The one error of the local testbed: what went wrong, and how to fix it."""

from __future__ import annotations

PROG = "scripts/testbed"


class TestbedError(Exception):
    """A failure the user can act on: ``message`` plus lines that say how."""

    __test__ = False  # not a test class, despite its name

    def __init__(self, message: str, *hints: str) -> None:
        super().__init__(message)
        self.message = message
        self.hints = hints

    def render(self) -> str:
        lines = [f"{PROG}: error: {self.message}", *(f"  {hint}" for hint in self.hints)]
        return "\n".join(lines)


def log_tail(path: object, lines: int = 20) -> str:
    """The last lines of a log file, indented, for an error message."""
    from pathlib import Path

    log = Path(str(path))
    try:
        text = log.read_text(errors="replace")
    except OSError:
        text = ""
    if not text.strip():
        return f"(log {log} is empty or missing)"
    tail = text.splitlines()[-lines:]
    return "\n  ".join([f"--- last lines of {log} ---", *(f"| {line}" for line in tail)])
