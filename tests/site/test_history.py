"""The experiment page: each metric's history with regressions marked, and the group column."""

from __future__ import annotations

import json
from pathlib import Path

from tests.testing.sites import add_experiment, add_run, build_site, make_site_repo

TOLERANCE = {"ber": "{relative: 0.1, better: lower}"}
# the third run doubles the error rate: beyond 10%, and lower is better
HISTORY = [
    ("20261201T080000Z-00000001", 0.0100, "1111111aaaaaaa"),
    ("20261202T080000Z-00000002", 0.0102, "2222222bbbbbbb"),
    ("20261203T080000Z-00000003", 0.0200, "3333333ccccccc"),
    ("20261204T080000Z-00000004", 0.0199, "4444444ddddddd"),
]


def _set(run_dir: Path, **changes: object) -> None:
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if key == "commit":
            manifest["code"]["commit"] = str(value).ljust(40, "0")
        else:
            manifest[key] = value
    path.write_text(json.dumps(manifest), encoding="utf-8")


def _experiment_html(public: Path, name: str) -> str:
    return (public / "experiments" / name / "index.html").read_text(encoding="utf-8")


def _svgs(repo: Path) -> list[str]:
    return [p.read_text() for p in (repo / ".cache/radiops-site/plots").glob("*/*.svg")]


def test_the_history_marks_the_run_that_regressed(tmp_path: Path) -> None:
    repo = make_site_repo(tmp_path)
    add_experiment(repo, "hist", title="History", tolerances=TOLERANCE)
    for run_id, ber, commit in HISTORY:
        _set(add_run(repo, "hist", run_id, metrics={"ber": ber}), commit=commit)
    public, _ = build_site(repo)
    html = _experiment_html(public, "hist")
    assert 'id="history"' in html
    marked = html.split('class="radiops-regressions"', 1)[1].split("</ul>", 1)[0]
    assert HISTORY[2][0] in marked and "regression" in marked
    assert all(run_id not in marked for run_id, _, _ in (HISTORY[0], HISTORY[1], HISTORY[3]))
    (svg,) = [s for s in _svgs(repo) if "ber over the runs" in s]
    assert svg.count('class="flagged"') == 1
    assert "3333333" in svg and "2026-12-03" in svg  # the commit and the date label the point
    assert f"run {HISTORY[2][0]} · commit 3333333ccccc" in svg  # its tooltip
    # built again from the cache: the same marks, and the plot is still published
    public, _ = build_site(repo)
    again = _experiment_html(public, "hist")
    assert again.split('class="radiops-regressions"', 1)[1].split("</ul>", 1)[0] == marked
    src = again.split('class="radiops-history" src="', 1)[1].split('"', 1)[0]
    assert (public / "experiments/hist" / src).resolve().read_text() == svg


def test_a_history_without_tolerances_marks_nothing(tmp_path: Path) -> None:
    repo = make_site_repo(tmp_path)
    add_experiment(repo, "loose", title="No tolerance")
    for run_id, ber, commit in HISTORY:
        _set(add_run(repo, "loose", run_id, metrics={"ber": ber}), commit=commit)
    public, _ = build_site(repo)
    assert 'class="radiops-regressions"' not in _experiment_html(public, "loose")
    (svg,) = [s for s in _svgs(repo) if "ber over the runs" in s]
    assert 'class="flagged"' not in svg and svg.count("<circle") == len(HISTORY)


def test_the_runs_table_names_each_runs_group_and_links_it(tmp_path: Path) -> None:
    repo = make_site_repo(tmp_path)
    add_experiment(repo, "rep", title="Repeated")
    group = "20261204T060000Z-0000aaaa"
    for k in (1, 2, 3):
        run_dir = add_run(repo, "rep", f"20261204T06000{k}Z-0000000{k}", metrics={"m": float(k)})
        _set(run_dir, repetition={"group": group, "index": k, "of": 3})
    add_run(repo, "rep", "20261204T070000Z-0000000f", metrics={"m": 9.0})
    public, _ = build_site(repo)
    html = _experiment_html(public, "rep")
    assert "<th>Group</th>" in html
    cells = html.split('<td class="radiops-group">')[1:]
    assert len(cells) == 4
    grouped = [c.split("</td>", 1)[0] for c in cells if group in c]
    assert len(grouped) == 3 and {"(1/3)", "(2/3)", "(3/3)"} <= {c[-5:] for c in grouped}
    assert all('href="runs/20261204T060001Z-00000001/#group"' in c for c in grouped)
    first = public / "experiments/rep/runs/20261204T060001Z-00000001/index.html"
    assert 'id="group"' in first.read_text(encoding="utf-8")


def test_an_experiment_without_repeated_runs_has_no_group_column(tmp_path: Path) -> None:
    repo = make_site_repo(tmp_path)
    add_experiment(repo, "plain", title="Plain")
    add_run(repo, "plain", "20261204T070000Z-0000000f")
    public, _ = build_site(repo)
    assert "<th>Group</th>" not in _experiment_html(public, "plain")
