"""A repeated bpsk-ber point on the real engines: five runs in one group with distinct
seeds, the site's interval, and reproduce judging the group's distribution."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.testing.repos import PROJECT, commit_all, copy_from_project, git, radiops
from tests.testing.sites import build_site

pytestmark = pytest.mark.docker

POINT = ("--set", "tx_level=-44", "--set", "bits=100000")  # one point, Eb/N0 2 dB, ~3,750 errors


def _repo(where: Path) -> Path:
    repo = where / "repeat-lab"
    for name in ("sdr-base", "channel", "bpsk-ber"):
        copy_from_project(f"images/{name}", repo / "images" / name)
    copy_from_project("experiments/bpsk-ber", repo / "experiments" / "bpsk-ber")
    copy_from_project("site", repo / "site")
    shutil.copy(PROJECT / "mkdocs.yml", repo / "mkdocs.yml")
    (repo / ".gitignore").write_text(".radiops/\n.cache/\npublic/\n")
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "bpsk-ber")
    return repo


def _manifests(repo: Path) -> list[dict[str, Any]]:
    paths = sorted((repo / "experiments/bpsk-ber/runs").glob("*/manifest.json"))
    return [json.loads(p.read_text()) for p in paths]


def test_a_repeated_point_is_a_group_shown_with_its_interval_and_reproduced(
    tmp_path: Path,
) -> None:
    repo = _repo(tmp_path)
    result = radiops(repo, "run", "experiments/bpsk-ber", *POINT, "--repeat", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 of 5 runs (1 point x 5 repetitions) done" in result.stderr
    runs = _manifests(repo)
    assert len(runs) == 5
    assert len({m["repetition"]["group"] for m in runs}) == 1
    assert sorted(m["repetition"]["index"] for m in runs) == [1, 2, 3, 4, 5]
    assert {m["repetition"]["of"] for m in runs} == {5}
    assert len({m["seeds"]["seed"] for m in runs}) == 5  # the data bits' seed
    assert len({m["seeds"]["channel"] for m in runs}) == 5  # the emulator's noise
    assert all(m["parameters"]["seed"] == m["seeds"]["seed"] for m in runs)
    bers = [m["metrics"]["ber"] for m in runs]
    assert len(set(bers)) > 1 and all(0.03 < b < 0.045 for b in bers), bers  # Q(sqrt(2·1.6))

    public, _ = build_site(repo)
    first = next(m for m in runs if m["repetition"]["index"] == 1)
    page = next(p for p in public.rglob("index.html") if first["run_id"] in str(p.parent))
    assert re.search(r"[0-9.e-]+ ± [0-9.e-]+ \(95% CI, N = 5\)", page.read_text())

    commit_all(repo, "results: five runs of one point")
    again = radiops(repo, "reproduce", "experiments/bpsk-ber", "--run", first["run_id"])
    assert again.returncode == 0, again.stdout + again.stderr
    assert re.search(r"^pass  metric ber: .*95% CI", again.stdout, re.M), again.stdout
    reruns = [m for m in _manifests(repo) if m["run_id"] not in {r["run_id"] for r in runs}]
    assert len(reruns) == 5 and len({m["repetition"]["group"] for m in reruns}) == 1
    assert reruns[0]["repetition"]["group"] != first["repetition"]["group"]
    # fresh seeds: a new sample of the distribution, not the recorded one replayed
    for key in ("seed", "channel"):
        assert {m["seeds"][key] for m in reruns}.isdisjoint(m["seeds"][key] for m in runs)
    report = next((repo / "experiments/bpsk-ber/runs").glob("*/reproduction.md")).read_text()
    assert "- test: Welch's two-sample 95% confidence interval" in report

    for path in sorted((repo / "experiments/bpsk-ber/runs").glob("*/manifest.json")):
        manifest = json.loads(path.read_text())
        if manifest["repetition"]["group"] == first["repetition"]["group"]:
            manifest["metrics"]["ber"] *= 2  # published with a mean twice the true one
            path.write_text(json.dumps(manifest, indent=2))
    for path in (repo / "experiments/bpsk-ber/runs").glob("*/reproduction.*"):
        path.unlink()
    commit_all(repo, "published with a doubled bit error rate")
    moved = radiops(repo, "reproduce", "experiments/bpsk-ber", "--run", first["run_id"])
    assert moved.returncode == 1, moved.stdout + moved.stderr
    assert re.search(r"^fail  metric ber: ", moved.stdout, re.M), moved.stdout
