"""Health checks' rules without engines: pass criteria, quarantine, the inventory's errors."""

from __future__ import annotations

from pathlib import Path

from runner.model.health import (
    Bounds,
    CheckResult,
    HealthState,
    after_check,
    cleared,
    judge_metrics,
    quarantine_message,
)
from runner.model.testbed import read_testbed


def test_metrics_outside_their_bounds_or_missing_fail_with_the_value() -> None:
    criteria = {"snr_db": Bounds(min=20), "evm": Bounds(max=0.1)}
    assert judge_metrics({"snr_db": 25, "evm": 0.05}, criteria) == []
    failures = judge_metrics({"snr_db": 5}, criteria)
    assert failures == ["snr_db = 5, below the minimum 20", "metric evm was not reported"]


def test_two_failures_in_a_row_quarantine_and_a_pass_restores() -> None:
    fail = CheckResult(at="2026-01-01T00:00:00+00:00", ok=False, reason="snr low")
    state = after_check(HealthState(node="n1"), fail, 2)
    assert not state.quarantined and state.failures == 1
    state = after_check(state, fail, 2)
    assert state.quarantined_since == fail.at and state.reason == "snr low"
    message = quarantine_message(state)
    assert "n1" in message and fail.at in message and "radiops testbed clear n1" in message
    back = after_check(state, CheckResult(at="later", ok=True, reason="passed"), 2)
    assert not back.quarantined and back.failures == 0 and len(back.history) == 3
    assert HealthState.from_json(back.to_json()) == back
    assert not cleared(state, by="op").quarantined


def test_a_health_experiment_that_is_not_there_is_refused_where_it_is_named(
    tmp_path: Path,
) -> None:
    path = tmp_path / "testbed.yaml"
    path.write_text(
        "nodes:\n  n1:\n    engine: unix:///run/x.sock\n    health:\n"
        "      quarantine_after: 3\n      experiment:\n        path: experiments/nope\n"
        "        metrics: {snr_db: {min: 30, max: 20}}\n"
    )
    _, testbed, problems = read_testbed(path)
    assert testbed is None
    text = "\n".join(str(problem) for problem in problems)
    assert "no experiment at experiments/nope" in text
    assert "min 30 is above max 20" in text
    path.write_text("nodes:\n  n1:\n    engine: unix:///run/x.sock\n    health: {after: 2}\n")
    _, testbed, problems = read_testbed(path)
    assert testbed is None and "after" in "\n".join(str(p) for p in problems)
