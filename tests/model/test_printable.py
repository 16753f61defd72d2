"""model/problems.printable: the one rule for untrusted text in front of a terminal."""

from __future__ import annotations

import pytest

from runner.model.problems import Problem, printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text, ünïcode", "plain text, ünïcode"),
        ("a\nforged: line", "a\\nforged: line"),
        ("\x1b[2Jcleared", "\\x1b[2Jcleared"),
        ("tab\there", "tab\\there"),
        ("line\u2028separator", "line\\u2028separator"),
        ("bad\udcffbyte", "bad\\udcffbyte"),
    ],
)
def test_one_line_stays_one_line(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert printable(text).isprintable()


def test_a_log_keeps_its_lines_and_tabs_but_not_escapes() -> None:
    assert printable("step 1\n\tok\x1b[31m", lines=True) == "step 1\n\tok\\x1b[31m"


def test_a_problem_is_shown_through_it() -> None:
    problem = Problem(file="t.yaml", line=2, column=3, message="key 'x\x1b[2J' is unknown")
    assert str(problem) == "t.yaml:2:3: key 'x\\x1b[2J' is unknown"
