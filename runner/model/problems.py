"""Problems found in the repository's files, reported as ``file:line:column: message``."""

from __future__ import annotations

from dataclasses import dataclass

from runner.model.errors import InvalidInput


@dataclass(frozen=True, kw_only=True, order=True)
class Problem:
    """One thing wrong with one file, at a 1-based line and column (0 when unknown)."""

    file: str
    line: int = 0
    column: int = 0
    message: str

    def __str__(self) -> str:
        # messages quote keys and values of untrusted files: a newline or an
        # escape sequence in one must not forge a line or drive the terminal
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        return printable(f"{where}: {self.message}")


def printable(text: str, *, lines: bool = False) -> str:
    """``text`` with every character that is not printable (newlines, escape sequences,
    line and paragraph separators) written as its Python escape, so it stays one line.

    The one rule for putting untrusted text in front of a terminal. ``lines=True``
    keeps newlines and tabs, for output that is meant to be several lines (a build log).
    """
    if text.isprintable():
        return text
    kept = "\n\t" if lines else ""
    return "".join(c if c.isprintable() or c in kept else repr(c)[1:-1] for c in text)


def listed(problems: list[Problem], *, most: int = 5) -> str:
    """The first ``most`` problems on one line, for a message that carries them inline."""
    shown = "; ".join(str(p) for p in problems[:most])
    return shown + (f" (and {len(problems) - most} more)" if len(problems) > most else "")


class ProblemsFound(InvalidInput):
    """Raised by loaders: carries every problem of the file(s), sorted."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))
