"""Repeated runs without Docker: plans and seeds, the repeat count, the manifest's group,
progress, and the reproduce judgement of a group's distribution."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.model.errors import UsageError
from runner.model.experiment import Experiment, Tolerance, load_experiment, read_experiment
from runner.model.manifest import read_manifest
from runner.model.plan import expand
from runner.model.repetition import derived_seeds, group_members, repeated
from runner.model.report import progress_line
from runner.reproduce.group import group_plans, metric_check
from tests.testing.repos import EXAMPLES, radiops_in_process

SCENARIO = """\
name: sweep
description: a sweep
duration: 10s
{repeat}
parameters:
  gain: {{type: number, default: 10}}
  seed: {{type: integer, default: 1}}
  data_seed: {{type: integer, default: 7, minimum: 5, maximum: 9}}
  label: {{type: string, default: a}}
matrix:
  gain: [0, 30]
roles:
  tx:
    image: images/hello
"""


@pytest.fixture
def sweep(scenario_in: Callable[[str, str], Path]) -> Experiment:
    return load_experiment(scenario_in("sweep", SCENARIO.format(repeat="repeat: 5")))


def test_each_point_runs_n_times_in_a_group_of_its_own(sweep: Experiment) -> None:
    assert sweep.repeat == 5
    plans = repeated(expand(sweep, {}), sweep.repeat)
    assert len(plans) == 10
    groups = [p.repetition.group for p in plans if p.repetition]
    assert len(set(groups[:5])) == 1 and len(set(groups[5:])) == 1 and groups[0] != groups[5]
    assert [p.repetition.index for p in plans if p.repetition] == [1, 2, 3, 4, 5] * 2
    assert {p.repetition.of for p in plans if p.repetition} == {5}
    assert [p.matrix_point["gain"] for p in plans] == [0] * 5 + [30] * 5


def test_seeds_are_distinct_within_range_and_the_first_is_the_points_own(
    sweep: Experiment,
) -> None:
    plans = repeated(expand(sweep, {}), 5)[:5]
    seeds = [p.parameters["seed"] for p in plans]
    data = [p.parameters["data_seed"] for p in plans]
    assert seeds[0] == 1 and len(set(seeds)) == 5
    assert data[0] == 7 and sorted(data) == [5, 6, 7, 8, 9]  # the declared range, filled
    assert {p.parameters["label"] for p in plans} == {"a"}  # not a seed: unchanged


def test_seed_derivation_is_deterministic_and_apart_from_neighbouring_bases() -> None:
    first = derived_seeds("seed", 1, 10, 0, 2**31 - 1)
    assert first == derived_seeds("seed", 1, 10, 0, 2**31 - 1)
    second = derived_seeds("seed", 2, 10, 0, 2**31 - 1)
    assert not set(first) & set(second)  # base + k would share 9 of 10
    assert derived_seeds("other_seed", 1, 3, 0, 2**31 - 1) != first[:3]


def test_too_narrow_a_seed_range_is_said() -> None:
    with pytest.raises(UsageError, match=r"data_seed allows 5 values \(5\.\.9\).*6 repetitions"):
        derived_seeds("data_seed", 7, 6, 5, 9)


def test_a_repeat_of_one_changes_nothing(sweep: Experiment) -> None:
    plans = expand(sweep, {})
    assert repeated(plans, 1) == plans


@pytest.mark.parametrize(
    ("value", "message"),
    [("0", "at least 1"), ("1001", "at most 1000"), ("five", "expected a whole number")],
)
def test_a_nonsense_repeat_in_a_scenario_is_refused(
    scenario_in: Callable[[str, str], Path], value: str, message: str
) -> None:
    path = scenario_in("sweep", SCENARIO.format(repeat=f"repeat: {value}"))
    _, experiment, problems = read_experiment(path)
    assert experiment is None
    assert any("repeat" in str(p) and message in str(p) for p in problems), problems


@pytest.mark.parametrize("value", ["0", "1001", "five", "-3", "2.5"])
def test_a_nonsense_repeat_on_the_command_line_is_said_without_a_traceback(
    scenario_in: Callable[[str, str], Path], value: str
) -> None:
    path = scenario_in("sweep", SCENARIO.format(repeat=""))
    code, _, err = radiops_in_process(path.parent.parent.parent, "run", "experiments/sweep",
                                      "--repeat", value)  # fmt: skip
    assert code == 2, err
    assert f"--repeat {value}: repeat must be" in err and "1000" in err
    assert "Traceback" not in err


def _manifest(tmp_path: Path, repetition: object) -> Path:
    data = json.loads((EXAMPLES / "manifest" / "valid" / "simulated-hello.json").read_text())
    data["repetition"] = repetition
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("repetition", "message"),
    [
        ({"group": "20261204T063000Z-1a2b3c4d", "index": 7, "of": 5}, "index 7 is not within 1..5"),
        ({"group": "; rm -rf /", "index": 1, "of": 5}, "must match the pattern"),
        (
            {"group": "20261204T063000Z-1a2b3c4d", "index": 1, "of": "five"},
            "expected a whole number",
        ),
        ({"group": "20261204T063000Z-1a2b3c4d", "index": 0, "of": 5}, "index 0 is not within 1..5"),
        ({"group": "20261204T063000Z-1a2b3c4d", "index": 1, "of": 5000}, "at most 1000"),
        ({"group": "20261204T063000Z-1a2b3c4d"}, "missing required key"),
        ("five", "expected a mapping"),
    ],
)
def test_a_group_with_nonsense_values_is_an_invalid_manifest(
    tmp_path: Path, repetition: object, message: str
) -> None:
    _, manifest, problems = read_manifest(_manifest(tmp_path, repetition))
    assert manifest is None
    assert any(message in str(p) for p in problems), problems


def test_a_sound_group_is_valid_and_its_members_are_found(tmp_path: Path) -> None:
    group = "20261204T063000Z-1a2b3c4d"
    for index in (2, 1):
        run_dir = tmp_path / "runs" / f"20261204T06300{index}Z-0000000{index}"
        run_dir.mkdir(parents=True)
        shutil.move(_manifest(tmp_path, {"group": group, "index": index, "of": 3}), run_dir)
    other = tmp_path / "runs" / "20261204T063009Z-00000009"
    other.mkdir()
    shutil.move(_manifest(tmp_path, {"group": "20261204T063000Z-ffffffff", "index": 1, "of": 2}),
                other)  # fmt: skip
    members = group_members(tmp_path / "runs", group)
    assert [m["repetition"]["index"] for _, m in members] == [1, 2]


def test_a_groups_reproduction_draws_fresh_seeds_past_those_the_group_used(
    sweep: Experiment,
) -> None:
    recorded: list[dict[str, Any]] = [
        {
            "experiment": {"matrix_point": dict(p.matrix_point)},
            "parameters": dict(p.parameters),
            "repetition": p.repetition.record() if p.repetition else None,
        }
        for p in repeated(expand(sweep, {"gain": 0}), 2)  # data_seed: 5 values, 4 used
    ]
    plans = group_plans(sweep, recorded, "20261204T070000Z-00000001")
    used = {m["parameters"]["seed"] for m in recorded}
    fresh = [p.parameters["seed"] for p in plans]
    assert len(set(fresh)) == 2 and not used & set(fresh)
    assert {p.parameters["data_seed"] for p in plans}.isdisjoint(
        m["parameters"]["data_seed"] for m in recorded
    )
    assert fresh == [p.parameters["seed"] for p in group_plans(sweep, recorded, "x")]
    assert all(p.seeds == {} for p in plans)  # the channel seed is drawn anew
    assert [p.repetition.index for p in plans if p.repetition] == [1, 2]
    assert {p.parameters["gain"] for p in plans} == {0}
    with pytest.raises(UsageError, match="data_seed allows 5 values"):  # 2 used + 4 fresh
        group_plans(sweep, recorded + recorded, "x")


def test_progress_counts_the_repetitions() -> None:
    line = progress_line("ber", 4, 15, 40.0, repeat=5)
    assert line == "ber: 4 of 15 runs (3 points x 5 repetitions) done in 40s, about 1m50s left"
    assert progress_line("ber", 5, 5, 50.0, repeat=5) == (
        "ber: 5 of 5 runs (1 point x 5 repetitions) done in 50s"
    )


RECORDED = [1.00e-3, 1.08e-3, 0.95e-3, 1.02e-3, 0.97e-3]


def test_a_rerun_from_the_same_distribution_passes() -> None:
    again = [1.03e-3, 0.96e-3, 1.05e-3, 0.99e-3, 1.01e-3]
    check = metric_check("ber", Tolerance(relative=0.3), RECORDED, again)
    assert check.verdict == "pass", check
    assert "95% CI" in check.got and "within ±0.0003012" in check.expected


def test_a_mean_moved_beyond_the_tolerance_fails() -> None:
    moved = [v * 1.5 for v in RECORDED]
    check = metric_check("ber", Tolerance(relative=0.3), RECORDED, moved)
    assert check.verdict == "fail", check


def test_a_mean_within_the_tolerance_but_too_noisy_to_say_so_fails() -> None:
    noisy = [0.2e-3, 2.0e-3, 0.5e-3, 1.8e-3, 0.6e-3]  # mean 1.02e-3, interval far wider
    assert metric_check("ber", Tolerance(relative=0.3), RECORDED, noisy).verdict == "fail"


def test_a_group_with_a_single_value_cannot_be_judged() -> None:
    check = metric_check("ber", Tolerance(absolute=1.0), RECORDED, [1e-3])
    assert check.verdict == "fail" and "at least 2 values" in check.expected
