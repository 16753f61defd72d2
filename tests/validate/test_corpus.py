"""The example corpus: every valid file validates; every invalid one yields exactly its messages.

Each invalid case carries ``# expect: LINE:COL: MESSAGE`` comments; the set of
problems ``radiops validate`` prints must equal that set, so a missing
message, a moved position or an extra message each fail the case.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.cli.app import main
from tests.testing.repos import EXAMPLES, add_scenario, make_example_repo

EXPECT = "# expect: "


def _cases(kind: str, validity: str) -> list[Path]:
    return sorted((EXAMPLES / kind / validity).glob("*.yaml"))


def _expected(case: Path) -> set[str]:
    lines = case.read_text(encoding="utf-8").splitlines()
    return {line.removeprefix(EXPECT) for line in lines if line.startswith(EXPECT)}


def _validate(
    repo: Path, target: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    monkeypatch.chdir(repo)
    code = main(["validate", target])
    out, err = capsys.readouterr()
    return code, out, err


def _reported(err: str, file: str) -> set[str]:
    lines = err.splitlines()
    assert lines, "an invalid file must produce messages"
    summary = lines.pop()
    assert " problem" in summary and " in 1 file" in summary, summary
    for line in lines:
        assert line.startswith(f"{file}:"), f"message without file:line:column: {line}"
        assert "Traceback" not in line
    return {line.removeprefix(f"{file}:") for line in lines}


def _place(case: Path, repo: Path) -> tuple[str, str]:
    """Put ``case`` where its kind lives in ``repo``: (validate target, file it is shown as)."""
    if case.parent.parent.name == "testbed":
        shutil.copy(case, repo / "testbed.yaml")
        return "testbed.yaml", "testbed.yaml"
    add_scenario(repo, case.stem, case.read_text(encoding="utf-8"))
    return f"experiments/{case.stem}", f"experiments/{case.stem}/experiment.yaml"


INVALID = _cases("experiment", "invalid") + _cases("testbed", "invalid")
VALID = _cases("experiment", "valid") + _cases("testbed", "valid")


def test_the_corpus_has_cases_in_every_folder() -> None:
    # the parametrized tests below pass vacuously when a glob matches nothing
    for kind in ("experiment", "testbed"):
        for validity in ("valid", "invalid"):
            assert _cases(kind, validity), f"no cases in tests/examples/{kind}/{validity}"


def _id(case: Path) -> str:
    return f"{case.parent.parent.name}/{case.stem}"


@pytest.mark.parametrize("case", INVALID, ids=_id)
def test_invalid_file_reports_exactly_its_problems(
    case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _expected(case)
    assert expected, f"{case.name} pins no '# expect:' line"
    target, shown = _place(case, make_example_repo(tmp_path))
    code, _, err = _validate(tmp_path / "repo", target, capsys, monkeypatch)
    assert code == 1
    assert _reported(err, shown) == expected


@pytest.mark.parametrize("case", VALID, ids=_id)
def test_valid_file_passes(
    case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    target, _ = _place(case, make_example_repo(tmp_path))
    code, out, err = _validate(tmp_path / "repo", target, capsys, monkeypatch)
    assert (code, err) == (0, "")
    assert out.startswith("valid: ")
    assert "testbed: testbed.yaml" in out
