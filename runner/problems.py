"""Problems found in the repository's files, reported as ``file:line:column: message``."""

from __future__ import annotations

from dataclasses import dataclass

from runner.errors import InvalidInput


@dataclass(frozen=True, kw_only=True, order=True)
class Problem:
    """One thing wrong with one file, at a 1-based line and column (0 when unknown)."""

    file: str
    line: int = 0
    column: int = 0
    message: str

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}: {self.message}"
        return f"{self.file}: {self.message}"


class ProblemsFound(InvalidInput):
    """Raised by loaders: carries every problem of the file(s), sorted."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))
