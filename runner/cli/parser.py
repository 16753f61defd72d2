"""The ``radiops`` command line's words: the table's commands and their flags (argparse)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from runner import __version__
from runner.cli.command import Command, Group, Leaf
from runner.cli.table import COMMANDS


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse exits on its own; keep its exit code (2) but add the way out
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: {message}\n(see '{self.prog} --help')\n")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Every command and flag of ``radiops``.

    Given ``argv``, only the command it names is imported and gets its flags (the others
    are listed with their help): ``radiops validate`` does not load Docker or mkdocs.
    Without it, every command is complete.
    """
    chosen = _words(argv)
    parser = _Parser(
        prog="radiops",
        description="Run software-defined-radio experiments from a git repository.",
    )
    parser.add_argument("--version", action="version", version=f"radiops {__version__}")
    _add_level(parser, COMMANDS, "command", "COMMAND", chosen, 0)
    return parser


def _add_level(
    parser: argparse.ArgumentParser,
    entries: Sequence[Leaf | Group],
    dest: str,
    metavar: str,
    chosen: Sequence[str] | None,
    depth: int,
) -> None:
    subparsers = parser.add_subparsers(dest=dest, metavar=metavar, parser_class=_Parser)
    subparsers.required = True
    for entry in entries:
        wanted = chosen is None or (len(chosen) > depth and chosen[depth] == entry.name)
        sub = subparsers.add_parser(entry.name, help=entry.help, description=entry.help)
        if isinstance(entry, Group):
            sub.description = entry.description
            _add_level(sub, entry.actions, "action", "ACTION", chosen if wanted else (), depth + 1)
        elif wanted:
            command = entry.load()
            sub.description = command.description
            command.add_arguments(sub)
            sub.set_defaults(_command=command)


def _words(argv: Sequence[str] | None) -> list[str] | None:
    """The command words ``argv`` begins with (``["testbed", "probe"]``), or None for all.

    Neither ``radiops`` nor a group takes an option with a value, so the first words not
    starting with ``-`` are the command and its action.
    """
    if argv is None:
        return None
    return [word for word in argv if not word.startswith("-")][:2]


def command_of(args: argparse.Namespace) -> Command:
    """The command ``args`` were parsed for."""
    command = getattr(args, "_command", None)
    if not isinstance(command, Command):
        raise AssertionError(f"no command parsed from {args}")
    return command
