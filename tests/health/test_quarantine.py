"""Node health and quarantine on the real engines, through separate ``radiops`` processes."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from runner.engine.health_store import remove_health
from runner.model.schedule import reservation_name
from tests.testing.repos import (
    add_scenario,
    commit_all,
    make_run_repo,
    radiops,
    radiops_started,
    shell_scenario,
)
from tests.testing.testbed_fixtures import Testbed

pytestmark = pytest.mark.docker

TONE = shell_scenario(
    "tone",
    script='echo "{\\"snr_db\\": $RADIOPS_PARAM_SNR}" > $RADIOPS_OUTPUT_DIR/metrics.json',
    extra="parameters:\n  snr:\n    type: number\n    default: 30\nmetrics: metrics.json\n",
)


def inventory(testbed: Testbed, snr: int) -> str:
    """node1 plain; node2 with a health experiment whose tone reaches ``snr`` dB."""
    return (
        f"nodes:\n  node1:\n    engine: {testbed.node_engines['node1']}\n"
        f"  node2:\n    engine: {testbed.node_engines['node2']}\n"
        "    health:\n      probe: false\n      experiment:\n        path: experiments/tone\n"
        f"        parameters: {{snr: {snr}}}\n        metrics: {{snr_db: {{min: 20}}}}\n"
    )


@pytest.fixture
def repo(
    testbed: Testbed, tmp_path: Path, docker_clients: dict[str, docker.DockerClient]
) -> Iterator[Path]:
    """A repository whose testbed.yaml gives node2 a failing check (passing.yaml: passing)."""
    repo = make_run_repo(tmp_path, testbed=inventory(testbed, snr=5))
    (repo / "passing.yaml").write_text(inventory(testbed, snr=30))
    add_scenario(repo, "tone", TONE)
    add_scenario(repo, "busy", shell_scenario("busy", script="sleep 1"))
    add_scenario(repo, "long", shell_scenario("long", script="sleep 120", duration="5m"))
    commit_all(repo, "health experiments")
    try:
        yield repo
    finally:
        for node in ("node1", "node2"):
            remove_health(docker_clients[node], node)


def status(repo: Path) -> dict[str, Any]:
    result = radiops(repo, "testbed", "status", "--json")
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def node(document: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = (item for item in document["nodes"] if item["node"] == name)
    return dict(found)


def test_a_node_failing_twice_is_quarantined_skipped_and_restored(repo: Path) -> None:
    first = radiops(repo, "testbed", "check", "node2")
    assert first.returncode == 1 and "snr_db = 5, below the minimum 20" in first.stdout
    assert "1 failure(s) in a row" in first.stdout
    assert not node(status(repo), "node2")["quarantined"]
    second = radiops(repo, "testbed", "check", "node2")
    assert "quarantined since" in second.stdout, second.stdout

    # other processes see it: a run that needs only node2 says why, and no container starts
    seen = node(status(repo), "node2")
    assert seen["quarantined"] and len(seen["health"]["history"]) == 2
    refused = radiops(repo, "run", "experiments/busy", "--node", "node2")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    for part in ("node node2 is quarantined since", "below the minimum 20", "testbed clear node2"):
        assert part in refused.stderr, refused.stderr
    elsewhere = radiops(repo, "run", "experiments/busy")
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert "skipping node node2" in elsewhere.stderr
    (run_dir,) = (repo / "experiments/busy/runs").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert [p["node"] for p in manifest["placements"]] == ["node1"]

    restored = radiops(repo, "testbed", "check", "node2", "--testbed", "passing.yaml")
    assert restored.returncode == 0 and "node2: pass" in restored.stdout, restored.stdout
    assert not node(status(repo), "node2")["quarantined"]


def test_an_operator_clears_a_quarantine(repo: Path) -> None:
    for _ in range(2):
        radiops(repo, "testbed", "check", "node2")
    assert node(status(repo), "node2")["quarantined"]
    cleared = radiops(repo, "testbed", "clear", "node2")
    assert cleared.returncode == 0 and "node2: cleared" in cleared.stdout, cleared.stderr
    after = node(status(repo), "node2")
    assert not after["quarantined"] and after["health"]["failures"] == 0
    assert radiops(repo, "run", "experiments/busy", "--node", "node2").returncode == 0


def test_status_shows_a_held_node_and_a_waiting_run(
    repo: Path, docker_clients: dict[str, docker.DockerClient]
) -> None:
    holding = radiops_started(repo, "run", "experiments/long", "--node", "node1", quiet=True)
    waiting: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 300
        while not docker_clients["node1"].containers.list(
            filters={"name": reservation_name("node1"), "status": "running"}
        ):
            assert time.monotonic() < deadline and holding.poll() is None, "the run never began"
            time.sleep(0.2)
        waiting = radiops_started(repo, "run", "experiments/busy", "--node", "node1", quiet=True)
        while not (document := status(repo))["waiting"]:
            assert time.monotonic() < deadline and waiting.poll() is None, "nothing waits"
            time.sleep(0.5)
        held = node(document, "node1")
        assert not held["free"] and held["held_by"]["experiment"] == "long"
        assert held["held_by"]["state"] == "running" and held["held_by"]["since"].endswith("Z")
        assert node(document, "node2")["free"]
        assert [run["experiment"] for run in document["waiting"]] == ["busy"]
        assert document["elapsed_s"] < 2.0
        text = radiops(repo, "testbed", "status").stdout
        assert "node1: held by run" in text and "of long (running since" in text
        assert "waiting: run" in text and "of busy" in text
    finally:
        for process in (holding, waiting):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.communicate(timeout=120)
