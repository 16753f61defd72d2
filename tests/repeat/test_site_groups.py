"""The site shows a repeated run's metrics as mean ± 95% CI, and error bars on sweeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.model.stats import summarize
from runner.site.groups import collapse_groups, run_group_view
from runner.site.svg import line_plot
from tests.testing.sites import add_experiment, add_run, build_site, make_site_repo

GROUPS = {0: "20261204T060000Z-0000aaaa", 10: "20261204T060000Z-0000bbbb"}
VALUES = {0: [4.0, 5.0, 6.0, 5.5, 4.5], 10: [9.0, 10.0, 11.0, 10.5, 9.5]}


def _grouped_run(repo: Path, gain: int, k: int) -> Path:
    run_id = f"20261204T06{gain:02d}0{k}Z-0000000{k}"
    run_dir = add_run(
        repo, "rep", run_id, point={"gain": gain}, metrics={"snr_db": VALUES[gain][k - 1]}
    )
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["repetition"] = {"group": GROUPS[gain], "index": k, "of": 5}
    path.write_text(json.dumps(manifest), encoding="utf-8")
    return run_dir


def test_the_built_site_shows_the_interval_and_the_error_bars(tmp_path: Path) -> None:
    repo = make_site_repo(tmp_path)
    add_experiment(repo, "rep", title="Repeated", sweep=(0, 10, 20))
    for gain in GROUPS:
        for k in range(1, 6):
            _grouped_run(repo, gain, k)
    add_run(repo, "rep", "20261204T070000Z-0000000f", point={"gain": 20}, metrics={"snr_db": 15.0})
    public, _ = build_site(repo)
    page = next(p for p in public.rglob("index.html") if "20261204T060003Z-00000003" in str(p))
    html = page.read_text()
    expected = summarize(VALUES[0])
    assert f"{expected.mean:.6g} ± {expected.half_width:.2g} (95% CI, N = 5)" in html
    assert "5 ± 0.98 (95% CI, N = 5)" in html  # by hand: sd 0.791, t(0.975, 4) 2.776
    assert "Run 3 of 5 repeated runs" in html
    alone = next(p for p in public.rglob("index.html") if "20261204T070000Z-0000000f" in str(p))
    assert "95% CI" not in alone.read_text()
    svgs = [p.read_text() for p in (repo / ".cache/radiops-site/plots").glob("*/*.svg")]
    sweep = next(s for s in svgs if "snr_db against gain" in s)
    assert sweep.count('class="error-bar"') == 2  # two groups; the lone run has none


def test_groups_collapse_to_their_means_with_half_widths() -> None:
    manifests = [
        {
            "experiment": {"matrix_point": {"gain": 0}},
            "metrics": {"snr_db": v, "flag": 1.0},
            "repetition": {"group": GROUPS[0], "index": k, "of": 5},
        }
        for k, v in enumerate(VALUES[0], start=1)
    ] + [{"experiment": {"matrix_point": {"gain": 20}}, "metrics": {"snr_db": 15.0}}]
    points, errors = collapse_groups(manifests)
    assert points == [({"gain": 20}, {"snr_db": 15.0}), ({"gain": 0}, {"flag": 1.0, "snr_db": 5.0})]
    assert errors[0] == {} and errors[1]["flag"] == 0.0
    sd = summarize(VALUES[0]).sd
    assert sd is not None and errors[1]["snr_db"] == pytest.approx(2.7764 * sd / 5**0.5)
    view = run_group_view(manifests[0], manifests)
    assert view is not None and view["found"] == 5 and view["index"] == 1
    assert run_group_view(manifests[-1], manifests) is None


def test_a_metric_with_nonsense_values_in_a_group_is_summarized_from_the_sound_ones() -> None:
    manifests = [
        {"metrics": {"m": v}, "repetition": {"group": "g", "index": 1, "of": 3}}
        for v in (1.0, float("nan"), True, "x", 3.0)
    ]
    view = run_group_view(manifests[0], manifests)
    assert view is not None
    assert view["rows"] == [{"metric": "m", "value": 1.0, "text": "2 ± 13 (95% CI, N = 2)"}]


def test_error_bars_on_a_log_axis_keep_a_low_end_at_or_below_zero_drawable() -> None:
    svg = line_plot([0, 1], [1e-4, 1e-2], title="t", x_label="x", y_label="y", log_y=True,
                    y_errors=[2e-4, 1e-3])  # fmt: skip
    assert svg.count('class="error-bar"') == 2 and "nan" not in svg
