"""The table of commands (runner/cli/table.py): every line loads, the parser is built
from it, and a command's module is imported only when that command runs."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from runner.cli.command import Command, Group, Leaf
from runner.cli.parser import build_parser, command_of
from runner.cli.table import COMMANDS
from tests.testing.repos import radiops_in_process


def _leaves() -> list[tuple[list[str], Leaf]]:
    found: list[tuple[list[str], Leaf]] = []
    for entry in COMMANDS:
        if isinstance(entry, Group):
            found += [([entry.name, action.name], action) for action in entry.actions]
        else:
            found.append(([entry.name], entry))
    return found


def test_every_line_of_the_table_names_a_command_module() -> None:
    words = [" ".join(words) for words, _ in _leaves()]
    assert len(words) == len(set(words)), words
    for _, leaf in _leaves():
        assert isinstance(leaf.load(), Command), leaf.module
        assert leaf.module.startswith("runner.cli.commands."), leaf.module


def test_a_line_that_names_no_command_is_refused() -> None:
    with pytest.raises(TypeError, match="is not a Command"):
        Leaf(name="x", help="x", module="runner.cli.table:COMMANDS").load()


@pytest.mark.parametrize("words", [words for words, _ in _leaves()], ids=" ".join)
def test_each_command_parses_to_its_own_main(words: list[str]) -> None:
    parser = build_parser()  # every command complete
    help_text = _subparser(parser, words).format_help()
    assert f"usage: radiops {' '.join(words)}" in help_text
    leaf = dict((" ".join(w), leaf) for w, leaf in _leaves())[" ".join(words)]
    args = _minimal(words)
    assert command_of(build_parser(args).parse_args(args)) is leaf.load()


def test_a_group_without_its_action_is_a_usage_error(tmp_path: Path) -> None:
    code, out, err = radiops_in_process(tmp_path, "testbed")
    assert code == 2 and out == ""
    assert "ACTION" in err and "see 'radiops testbed --help'" in err


def test_only_the_command_that_runs_is_imported(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from runner.cli.parser import build_parser\n"
        "build_parser(['validate', 'x']).parse_args(['validate', 'x'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('runner.cli.commands.')))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'docker', 'mkdocs', 'pygit2'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines() == ["['runner.cli.commands.validate']", "[]"], result


def _subparser(parser: argparse.ArgumentParser, words: list[str]) -> argparse.ArgumentParser:
    for word in words:
        (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[word]
    return parser


def _minimal(words: list[str]) -> list[str]:
    """The shortest argument list each command accepts."""
    required = {
        "new": ["hello"],
        "run": ["experiments/hello"],
        "shell": ["experiments/hello", "hello"],
        "diff": ["a", "b"],
        "bundle": ["20261121T233100Z-1a2b3c4d"],
        "attest": ["run"],
        "ci": ["--base", "main", "--head", "HEAD"],
        "changed": ["--base", "main"],
        "comment": ["--pull-request", "1", "--body-file", "x.md"],
        "watch": ["--remote", "https://example.org/r.git"],
    }
    required_actions = {("testbed", "clear"): ["node1"]}
    extra = required_actions.get((words[0], words[-1]), required.get(words[0], []))
    return [*words, *extra]
