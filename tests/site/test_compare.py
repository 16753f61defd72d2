"""The compare page's data: radiops diff's JSON per pair of the latest runs, PSD points per run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.model.experiment import Tolerance
from runner.model.run_diff import diff_runs
from runner.model.run_diff_records import CodeChanges, RunSide, Yardstick
from runner.model.run_diff_render import to_json
from runner.site.compare import CODE_NOTE, COMPARE_RUNS
from tests.testing.sites import add_experiment, add_run, build_site, make_site_repo, tone


def _run_ids(count: int) -> list[str]:
    return [f"20261123T{8 + i:02d}0000Z-{i:08x}" for i in range(count)]


def test_each_pair_of_the_latest_runs_has_radiops_diffs_json(tmp_path: Path) -> None:
    repo = make_site_repo(tmp_path)
    add_experiment(repo, "many", title="Many", tolerances={"snr_db": "{absolute: 0.5}"})
    ids = _run_ids(COMPARE_RUNS + 2)
    for i, run_id in enumerate(ids):
        add_run(repo, "many", run_id, metrics={"snr_db": 10.0 + i})
    public, _ = build_site(repo)
    pairs = json.loads((public / "experiments/many/compare/pairs.json").read_text())["pairs"]
    latest = ids[-COMPARE_RUNS:]
    assert len(pairs) == COMPARE_RUNS * (COMPARE_RUNS - 1) // 2
    assert f"{ids[0]} {ids[-1]}" not in pairs  # older runs: radiops diff
    a, b = (
        json.loads((repo / f"experiments/many/runs/{r}/manifest.json").read_text())
        for r in latest[:2]
    )
    expected = to_json(
        diff_runs(
            RunSide(label=f"many/{latest[0]}", manifest=a),
            RunSide(label=f"many/{latest[1]}", manifest=b),
            code=CodeChanges(note=CODE_NOTE),
            yardstick=Yardstick(
                metrics={"snr_db": Tolerance(absolute=0.5)},
                source="experiments/many/experiment.yaml",
            ),
        )
    )
    assert pairs[f"{latest[0]} {latest[1]}"] == json.loads(json.dumps(expected))
    metrics = next(s for s in expected["sections"] if s["section"] == "metrics")
    assert metrics["items"] and metrics["items"][0]["change"] == "beyond"
    assert not (public / f"experiments/many/runs/{ids[0]}/compare.json").exists()
    assert (public / f"experiments/many/runs/{latest[0]}/compare.json").is_file()
    # a new run: the cached pairs are not reused, the new run is offered
    add_run(repo, "many", "20261124T080000Z-000000ff", metrics={"snr_db": 1.0})
    public, _ = build_site(repo)
    again = json.loads((public / "experiments/many/compare/pairs.json").read_text())["pairs"]
    assert f"{latest[-1]} 20261124T080000Z-000000ff" in again and len(again) == len(pairs)


def test_a_runs_compare_file_links_its_psd_points(tmp_path: Path) -> None:
    repo = make_site_repo(tmp_path)
    add_experiment(repo, "pair", title="Pair")
    first, second = _run_ids(2)
    add_run(repo, "pair", first, recording=tone(frequency=125e3))
    add_run(repo, "pair", second)
    public, _ = build_site(repo)
    folder = public / "experiments/pair/runs" / first
    info = json.loads((folder / "compare.json").read_text())
    assert info["run_id"] == first and info["psd"][0]["output"] == "rx.sigmf-data"
    points = json.loads((folder / info["psd"][0]["points"]).resolve().read_text())
    assert 16 <= len(points["x"]) == len(points["y"]) <= 256 and points["unit"]
    peak = points["x"][points["y"].index(max(points["y"]))]
    # the tone at 125 kHz above the 2.45 GHz centre, in the unit the file names
    assert peak == pytest.approx(2450.125 if points["unit"] == "MHz" else 2.450125, rel=1e-4)
    other = json.loads((public / "experiments/pair/runs" / second / "compare.json").read_text())
    assert other["psd"] == []
