"""What a command of ``radiops`` is: its flags and its ``main``, declared in its own module
under ``runner/cli/commands/``, and one line of the table in ``runner/cli/table.py``.

A command module stays importable only when it is used (it may load Docker, mkdocs,
pygit2): the table names it by its dotted path, and ``radiops --help`` imports none.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runner.model.report import Reporter


@dataclass(frozen=True, kw_only=True)
class Context:
    """What every command is handed besides its flags."""

    cwd: Path
    reporter: Reporter  # progress, on stderr; results go to stdout


@dataclass(frozen=True, kw_only=True)
class Command:
    """A command module's declaration: ``COMMAND = Command(...)`` at its end.

    ``main`` prints its results on stdout, returns the exit status, and raises
    ``FatalError`` (or ``ProblemsFound``) for what went wrong: ``runner.cli.app.main``
    turns those into messages and exit codes.
    """

    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    main: Callable[[argparse.Namespace, Context], int]


@dataclass(frozen=True, kw_only=True)
class Leaf:
    """One line of the table: a command word, its one-line help, where it is declared.

    ``module`` is ``runner.cli.commands.NAME`` (its ``COMMAND``) or
    ``runner.cli.commands.NAME:ATTRIBUTE`` when one module declares several actions.
    """

    name: str
    help: str
    module: str

    def load(self) -> Command:
        path, _, attribute = self.module.partition(":")
        declared = getattr(importlib.import_module(path), attribute or "COMMAND")
        if not isinstance(declared, Command):
            raise TypeError(f"{self.module} is not a Command")
        return declared


@dataclass(frozen=True, kw_only=True)
class Group:
    """A command word with actions under it (``radiops testbed probe``)."""

    name: str
    help: str
    description: str
    actions: tuple[Leaf, ...]
