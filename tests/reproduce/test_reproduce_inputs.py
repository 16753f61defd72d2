"""``radiops reproduce`` reports a bad testbed file as ``radiops ci`` does: every problem,
each at its file and line, never a record's repr."""

from __future__ import annotations

from pathlib import Path

from runner.model.problems import Problem, listed
from tests.testing.repos import radiops_in_process

BAD_TESTBED = """\
nodes:
  lab-1:
    engine: tcp://10.0.0.5:2375
    colour: blue
"""


def test_a_bad_testbed_file_lists_its_problems(tmp_path: Path) -> None:
    (tmp_path / "lab.yaml").write_text(BAD_TESTBED)
    (tmp_path / "run.radiops-bundle.tar").write_bytes(b"not read: the testbed is refused first")
    code, out, err = radiops_in_process(
        tmp_path, "reproduce", "--bundle", "run.radiops-bundle.tar", "--testbed", "lab.yaml"
    )
    assert code == 1, (out, err)
    assert "Problem(" not in err
    assert "Traceback" not in err
    problem_lines = [line for line in err.splitlines() if line.startswith("lab.yaml:")]
    assert len(problem_lines) >= 2, err  # the unknown key and the engine without tls
    assert any("colour" in line for line in problem_lines), err
    assert any(line.startswith("lab.yaml:3:") for line in problem_lines), err


def test_problems_listed_inline_are_read_as_text() -> None:
    problems = [Problem(file="m.json", line=i, column=1, message=f"bad {i}") for i in (1, 2, 3)]
    assert listed(problems) == "m.json:1:1: bad 1; m.json:2:1: bad 2; m.json:3:1: bad 3"
    assert listed(problems, most=2) == "m.json:1:1: bad 1; m.json:2:1: bad 2 (and 1 more)"
    assert "Problem(" not in listed(problems)
