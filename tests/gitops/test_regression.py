"""Metrics against the base branch: the pure judgement (runner/model/regression.py), its
markdown (regression_report.py), and base records read from git objects (gitops/base_runs)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pygit2
import pytest

from runner.gitops.base_runs import MAX_MANIFEST_BYTES, compare_new_runs, read_base_runs
from runner.model.experiment import Tolerance
from runner.model.regression import (
    ADDED,
    BEYOND,
    IMPROVEMENT,
    MISSING,
    NOT_COMPARABLE,
    REGRESSION,
    UNJUDGED,
    WITHIN,
    compare_run,
    compare_runs,
    judge,
)
from runner.model.regression_report import inert, mark_text, render_comparisons
from runner.model.stats import summarize
from tests.testing.repos import commit_all, git

PROJECT = Path(__file__).resolve().parent.parent.parent
EXAMPLE = PROJECT / "tests/examples/manifest/valid/simulated-hello.json"


def manifest(run_id: str, metrics: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(json.loads(EXAMPLE.read_text()))
    data["run_id"] = run_id
    data["metrics"] = metrics
    for key, value in changes.items():
        if key == "point":
            data["experiment"]["matrix_point"] = value
        elif key == "status":
            data["outcome"]["status"] = value
        else:
            data[key] = value
    return data


def _run(run: str, metrics: dict[str, Any], *, group: str) -> dict[str, Any]:
    return manifest(run, metrics, repetition={"group": group, "index": 1, "of": 5})


def run_id(n: int) -> str:
    return f"20261121T2331{n:02d}Z-1a2b3c4d"


# -- the judgement ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tolerance", "new", "mark"),
    [
        (Tolerance(relative=0.3), 12.9, WITHIN),
        (Tolerance(relative=0.3), 13.1, BEYOND),
        (Tolerance(relative=0.3), 7.1, WITHIN),
        (Tolerance(relative=0.3), 6.9, BEYOND),
        (Tolerance(absolute=0.5), 10.5, WITHIN),
        (Tolerance(absolute=0.5), 10.6, BEYOND),
        (Tolerance(absolute=0.0), 10.0, WITHIN),
        (Tolerance(absolute=0.0), 10.000001, BEYOND),
        (Tolerance(absolute=5, relative=0.1), 14.9, WITHIN),  # the larger bound counts
        (Tolerance(relative=0.3, better="higher"), 6.9, REGRESSION),
        (Tolerance(relative=0.3, better="higher"), 13.1, IMPROVEMENT),
        (Tolerance(relative=0.3, better="lower"), 13.1, REGRESSION),
        (Tolerance(relative=0.3, better="lower"), 6.9, IMPROVEMENT),
        (Tolerance(relative=0.3, better="lower"), 12.0, WITHIN),
        (None, 99.0, UNJUDGED),
    ],
)
def test_a_metric_is_judged_by_its_tolerance(
    tolerance: Tolerance | None, new: float, mark: str
) -> None:
    assert judge("ber", [10.0], new, tolerance).mark == mark


def test_change_is_absolute_and_relative() -> None:
    change = judge("snr", [8], 10, Tolerance(absolute=1))
    assert (change.delta, change.relative) == (2.0, 0.25)
    assert judge("snr", [0], 1, Tolerance(absolute=1)).relative is None  # no % of zero


@pytest.mark.parametrize("bad", [math.nan, math.inf, "fast", True, None])
def test_values_that_are_not_finite_numbers_are_not_compared(bad: Any) -> None:
    if bad is None:
        assert judge("x", [1.0], None, Tolerance(absolute=1)).mark == MISSING
        assert judge("x", [None], 1.0, Tolerance(absolute=1)).mark == ADDED
        return
    assert judge("x", [1.0], bad, Tolerance(absolute=1)).mark == NOT_COMPARABLE
    assert judge("x", [bad], 1.0, Tolerance(absolute=1)).mark == NOT_COMPARABLE
    assert judge("x", [1.0], bad, Tolerance(absolute=1)).delta is None


def test_repeated_base_runs_give_a_mean_and_its_interval() -> None:
    interval = summarize([9.0, 10.0, 11.0, 10.0, 10.0])
    assert interval.mean == 10.0
    # t(0.975, 4) = 2.776, sd = 0.7071: half width 0.8779
    assert interval.high - interval.mean == pytest.approx(0.8779, abs=1e-4)
    inside = judge("x", [9.0, 10.0, 11.0, 10.0, 10.0], 10.8, Tolerance(relative=0.01))
    outside = judge("x", [9.0, 10.0, 11.0, 10.0, 10.0], 10.9, None)
    assert (inside.mark, outside.mark) == (WITHIN, BEYOND)
    assert outside.interval is not None and outside.base == 10.0
    assert "95% interval" in mark_text(outside)
    assert summarize([1.0]).half_width is None


def test_a_new_group_is_pooled_against_the_base_group() -> None:
    base = [
        _run(run_id(i), {"ber": v}, group="g0")
        for i, v in enumerate([0.0100, 0.0101, 0.0099, 0.0100, 0.0100], start=1)
    ]
    # a noisy group around the same mean: alone, most repetitions leave the base's
    # interval; pooled, the group did not move
    noisy = [
        _run(run_id(30 + i), {"ber": v}, group="g3")
        for i, v in enumerate([0.0098, 0.0102, 0.0100, 0.0103, 0.0097], start=1)
    ]
    tolerance = {"ber": Tolerance(relative=0.5, better="lower")}
    alone = [compare_run(n, base, tolerance).metrics[0].mark for n in noisy]
    assert alone.count(REGRESSION) + alone.count(IMPROVEMENT) == 4
    assert compare_runs(noisy, base, tolerance)[0].metrics[0].mark == WITHIN
    # a group that moved by a few standard deviations is one regression
    new = [
        _run(run_id(10 + i), {"ber": v}, group="g1")
        for i, v in enumerate([0.0104, 0.0105, 0.0104, 0.0105, 0.0104], start=1)
    ]
    (pooled,) = compare_runs(new, base, tolerance)
    assert pooled.pooled_runs == 5 and pooled.metrics[0].mark == REGRESSION
    assert pooled.metrics[0].pooled is not None and pooled.metrics[0].pooled.n == 5
    assert "pooled" in render_comparisons([pooled], base="main")


def test_the_base_is_the_latest_succeeded_run_of_the_same_point() -> None:
    bases = [
        manifest(run_id(1), {"lines": 1}),
        manifest(run_id(2), {"lines": 2}),
        manifest(run_id(3), {"lines": 50}, status="failed"),
        manifest(run_id(4), {"lines": 60}, point={"repeat": 3}),
    ]
    new = manifest(run_id(9), {"lines": 2}, parameters={"greeting": "hi", "repeat": 3})
    result = compare_run(new, bases, {"lines": Tolerance(absolute=0)})
    assert result.base_runs == (run_id(2),)
    assert [(m.name, m.base, m.mark) for m in result.metrics] == [("lines", 2, WITHIN)]
    assert result.parameters == (("greeting", "hello", "hi"),)
    point = compare_run(manifest(run_id(9), {"lines": 60}, point={"repeat": 3.0}), bases, {})
    assert point.base_runs == ()  # 3.0 is not the point 3


def test_a_repetition_group_is_taken_whole() -> None:
    group = [
        manifest(run_id(n), {"v": value}, repetition={"group": "g1", "index": n, "of": 3})
        for n, value in ((1, 9.0), (2, 10.0), (3, 11.0))
    ]
    older = manifest(run_id(0), {"v": 100.0})
    result = compare_run(manifest(run_id(9), {"v": 30.0}), [older, *group], {})
    assert result.base_runs == tuple(run_id(n) for n in (1, 2, 3))
    assert result.metrics[0].interval is not None and result.metrics[0].mark == BEYOND


# -- the markdown -------------------------------------------------------------------------


def test_the_table_marks_changes_beyond_tolerance() -> None:
    tolerances = {"ber": Tolerance(relative=0.3, better="lower"), "snr": Tolerance(relative=0.3)}
    new = manifest(run_id(9), {"ber": 0.2, "snr": 10.5})
    result = compare_run(new, [manifest(run_id(1), {"ber": 0.1, "snr": 10.0})], tolerances)
    text = render_comparisons([result], base="main")
    assert (
        "| ber | 0.1 | 0.2 | \\+0.1 \\(\\+100%\\) | ⚠ regression: beyond tolerance (±30%)" in text
    )
    assert "| snr | 10 | 10.5 | \\+0.5 \\(\\+5%\\) | ✓ within tolerance (±30%) |" in text
    assert "1 metric change(s) beyond tolerance" in text
    alone = compare_run(new, [], tolerances)
    assert "no earlier run on main to compare with" in render_comparisons([alone], base="main")


def test_hostile_names_and_values_are_shown_literally() -> None:
    hostile = "<img src=x onerror=alert(1)>|[click](http://evil)*_`#"
    assert "<" not in inert(hostile) and ">" not in inert(hostile)
    assert "](" not in inert(hostile) and "|" not in inert(hostile).replace("\\|", "")
    new = manifest(run_id(9), {hostile: 1.0}, parameters={"greeting": "<b>**hi**</b>"})
    new["experiment"]["matrix_point"] = {"p": "<script>"}
    result = compare_run(
        new, [manifest(run_id(1), {hostile: "<i>x</i>"}, point={"p": "<script>"})], {}
    )
    text = render_comparisons([result], base="<main>")
    for raw in ("<img", "<b>", "<script>", "<main>", "<i>", "](http", "**hi**"):
        assert raw not in text
    assert "&lt;img src=x onerror=alert\\(1\\)&gt;\\|\\[click\\]\\(http://evil\\)" in text
    row = next(line for line in text.splitlines() if "onerror" in line)
    assert row.count("|") - row.count("\\|") == 6  # five cells: no pipe got through


# -- the base's records, from git objects --------------------------------------------------


def base_repo(tmp_path: Path, records: dict[str, bytes]) -> tuple[pygit2.Repository, str]:
    repo = tmp_path / "repo"
    runs = repo / "experiments" / "hello" / "runs"
    for name, data in records.items():
        (runs / name).mkdir(parents=True)
        (runs / name / "manifest.json").write_bytes(data)
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    return pygit2.Repository(str(repo)), commit_all(repo, "base records")


def test_base_records_are_read_from_the_commit_and_checked(tmp_path: Path) -> None:
    good = manifest(run_id(1), {"lines": 3})
    nan = json.dumps(manifest(run_id(2), {"lines": 3})).replace('"lines": 3', '"lines": NaN')
    bad = manifest(run_id(3), {"lines": "three"})
    big = b" " * (MAX_MANIFEST_BYTES + 1)
    records = {
        run_id(1): json.dumps(good).encode(),
        run_id(2): nan.encode(),
        run_id(3): json.dumps(bad).encode(),
        run_id(4): b"{not json",
        run_id(5): big,
    }
    repo, base = base_repo(tmp_path, records)
    # the work tree says otherwise: only the commit counts
    workdir = Path(repo.workdir)
    (workdir / "experiments/hello/runs" / run_id(1) / "manifest.json").write_text("{}")
    found = read_base_runs(repo, base, "hello")
    assert [m["run_id"] for m in found.manifests] == [run_id(1)]
    assert [why.split(":")[0] for why in found.refused] == [run_id(n) for n in (2, 3, 4, 5)]
    assert "not JSON" in found.refused[0] and "schema" in found.refused[1]
    assert read_base_runs(repo, base, "absent") == read_base_runs(repo, base, "nothing")


def test_new_runs_are_judged_by_the_base_scenario_tolerances(tmp_path: Path) -> None:
    base_record = manifest(run_id(1), {"lines": 3, "bytes": 45})
    repo, base = base_repo(tmp_path, {run_id(1): json.dumps(base_record).encode()})
    workdir = Path(repo.workdir)
    # the base's scenario: lines within ±0, no tolerance for bytes
    (workdir / "experiments/hello/experiment.yaml").write_text(
        (PROJECT / "experiments/hello/experiment.yaml").read_text()
    )
    base = commit_all(workdir, "the scenario")
    new_dir = tmp_path / "new"
    new_dir.mkdir()
    new = manifest(run_id(9), {"lines": 6, "bytes": 200}, parameters={"repeat": 6})
    (new_dir / "manifest.json").write_text(json.dumps(new))
    # the change loosens lines (not taken) and gives bytes one (taken: the base has none)
    loosened = {"lines": Tolerance(absolute=100), "bytes": Tolerance(relative=0.5)}
    comparisons, notes = compare_new_runs(repo, base, [("hello", new_dir)], {"hello": loosened})
    assert notes == []
    assert [(m.name, m.base, m.new, m.mark) for m in comparisons[0].metrics] == [
        ("bytes", 45, 200, BEYOND),
        ("lines", 3, 6, BEYOND),
    ]
    assert comparisons[0].metrics[1].tolerance == Tolerance(absolute=0)
    assert comparisons[0].parameters == (("greeting", "hello", None), ("repeat", 3, 6))
    # without a tolerance anywhere, the change is shown, not judged
    (workdir / "experiments/hello/experiment.yaml").unlink()
    base = commit_all(workdir, "no scenario")
    comparisons, _ = compare_new_runs(repo, base, [("hello", new_dir)], {})
    assert comparisons[0].metrics[0].mark == UNJUDGED
