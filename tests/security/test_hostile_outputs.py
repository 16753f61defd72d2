"""Whatever a container hands back, the run is recorded: odd data becomes a warning in a
whole, valid manifest, never a crash that loses the run (and, in CI, its siblings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.model.manifest import read_manifest
from tests.testing.repos import add_scenario, commit_all, make_run_repo, radiops, shell_scenario

pytestmark = pytest.mark.docker

HUGE = "9" * 401  # an integer no float holds
OUT = "$RADIOPS_OUTPUT_DIR"

CASES = {
    "huge-metric": (
        f'printf \'{{"huge": {HUGE}, "fine": 2}}\' > {OUT}/metrics.json',
        "huge",
    ),
    "huge-sample-rate": (
        f"head -c 64 /dev/zero > {OUT}/rx.sigmf-data; "
        f'printf \'{{"global": {{"core:datatype": "cf32_le", "core:sample_rate": {HUGE}}}}}\''
        f" > {OUT}/rx.sigmf-meta",
        "rx.sigmf-meta",
    ),
    "backslash-folder": (
        "mkdir '/a\\b' && echo x > '/a\\b/f.txt'",
        "changed path a\\b: name has a backslash",
    ),
    "newline-folder": (
        'd="$(printf "/n\\nl")"; mkdir "$d" && echo x > "$d/f.txt"',
        "changed path n\\nl: name has",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_odd_container_data_is_a_warning_in_a_recorded_run(tmp_path: Path, case: str) -> None:
    script, named = CASES[case]
    repo = make_run_repo(tmp_path)
    add_scenario(repo, "odd", shell_scenario("odd", script=script, extra="metrics: metrics.json\n"))
    commit_all(repo, "odd")
    result = radiops(repo, "run", "experiments/odd", timeout=300)
    assert "Traceback" not in result.stderr
    (run_dir,) = (repo / "experiments/odd/runs").iterdir()
    assert not (run_dir / "manifest.invalid.json").exists()
    _, manifest, problems = read_manifest(run_dir / "manifest.json", display="manifest.json")
    assert problems == [] and manifest is not None
    data = json.loads((run_dir / "manifest.json").read_text())
    assert data["outcome"]["status"] == "succeeded", data["outcome"]
    assert result.returncode == 0, result.stderr
    warnings = data.get("warnings", [])
    assert any(named in warning for warning in warnings), warnings
    if case == "huge-metric":
        assert data["metrics"] == {"fine": 2.0}


def test_the_capture_cap_holds_per_container_over_all_its_changed_paths(tmp_path: Path) -> None:
    # forty changed folders of 100 kB each, an output of 100 kB: 4.1 MB handed back, of
    # which 1 MB (the inventory's capture_max) is kept: one budget for the container
    script = (
        "for i in $(seq 1 40); do mkdir /d$i && head -c 100000 /dev/urandom > /d$i/f; done; "
        f"head -c 100000 /dev/urandom > {OUT}/out.bin"
    )
    inventory = (
        "nodes:\n  local:\n    engine: unix:///var/run/docker.sock\n"
        f"artifacts:\n  path: {tmp_path / 'store'}\n  inline_max: 1K\n  capture_max: 1M\n"
    )
    repo = make_run_repo(tmp_path, testbed=inventory)
    add_scenario(repo, "many", shell_scenario("many", script=script))
    commit_all(repo, "many")
    result = radiops(repo, "run", "experiments/many", timeout=300)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (repo / "experiments/many/runs").iterdir()
    data = json.loads((run_dir / "manifest.json").read_text())
    kept = sum(output["size"] for output in data["outputs"])
    assert 0 < kept <= 1 << 20
    assert len(data["outputs"]) < 41
    assert any("total reached the 1048576-byte cap" in w for w in data["warnings"]), data
    stored = sum(
        p.stat().st_size for p in (tmp_path / "store" / "sha256").rglob("*") if p.is_file()
    )
    assert stored <= 1 << 20
