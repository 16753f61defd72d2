"""A runner killed with SIGKILL mid-run: its runs are finished later, each with one final state.

Real runner processes, the real local default engine, real git repositories.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
from pathlib import Path

import docker
import pytest

from tests.testing.repos import (
    add_scenario,
    commit_all,
    make_run_repo,
    radiops,
    radiops_started,
    shell_scenario,
)

pytestmark = pytest.mark.docker

SLOW = "echo started; sleep 60; echo never > $RADIOPS_OUTPUT_DIR/never.txt"


def kill_mid_run(repo: Path, experiment: str) -> Path:
    """Start ``radiops run``, SIGKILL it once its container runs; the run's directory."""
    runner = radiops_started(repo, "run", f"experiments/{experiment}", quiet=True)
    client = docker.from_env()
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            running = client.containers.list(
                filters={"label": f"org.radiops.experiment={experiment}", "status": "running"}
            )
            if running:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the run's container never started")
    finally:
        client.close()
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=30)
    (run_dir,) = (repo / "experiments" / experiment / "runs").iterdir()
    assert (run_dir / "pending.json").is_file()
    assert not (run_dir / "manifest.json").exists()
    return run_dir


def containers_of(run_id: str) -> list[str]:
    client = docker.from_env()
    try:
        found = client.containers.list(all=True, filters={"label": f"org.radiops.run={run_id}"})
        return [c.name for c in found if c.name is not None]
    finally:
        client.close()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = make_run_repo(tmp_path)
    add_scenario(repo, "slow", shell_scenario("slow", script=SLOW, duration="2m"))
    add_scenario(repo, "quick", shell_scenario("quick", script="echo quick"))
    commit_all(repo, "scenarios")
    return repo


def test_recover_finishes_a_killed_runners_run_once(repo: Path) -> None:
    run_dir = kill_mid_run(repo, "slow")
    assert containers_of(run_dir.name), "the killed runner's container should still be there"
    result = radiops(repo, "recover")
    assert result.returncode == 0, result.stderr
    assert f"{run_dir.name} cancelled" in result.stdout
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["outcome"]["status"] == "cancelled"
    assert "its runner (pid" in manifest["outcome"]["reason"]
    assert manifest["containers"][0]["status"] == "cancelled"
    assert any(log["tail"].startswith("started") for log in manifest["logs"])
    assert not (run_dir / "pending.json").exists()
    assert containers_of(run_dir.name) == []
    again = radiops(repo, "recover")  # exactly one final state: nothing more to do
    assert again.returncode == 0 and "nothing to recover" in again.stdout
    assert json.loads((run_dir / "manifest.json").read_text()) == manifest
    # the node is free again
    quick = radiops(repo, "run", "experiments/quick")
    assert quick.returncode == 0, quick.stderr


def test_the_next_run_recovers_first(repo: Path) -> None:
    run_dir = kill_mid_run(repo, "slow")
    result = radiops(repo, "run", "experiments/quick")
    assert result.returncode == 0, result.stderr
    assert f"{run_dir.name}: recovered (cancelled)" in result.stderr
    assert json.loads((run_dir / "manifest.json").read_text())["outcome"]["status"] == "cancelled"
    assert containers_of(run_dir.name) == []


def test_a_live_runners_run_is_left_alone(repo: Path) -> None:
    runner = radiops_started(repo, "run", "experiments/slow", quiet=True)
    try:
        runs = repo / "experiments" / "slow" / "runs"
        deadline = time.monotonic() + 120
        while not list(runs.glob("*/pending.json")) and time.monotonic() < deadline:
            time.sleep(0.1)
        result = radiops(repo, "recover")
        assert result.returncode == 0, result.stderr
        assert "its runner still runs" in result.stdout
    finally:
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=120)
    (run_dir,) = runs.iterdir()
    assert json.loads((run_dir / "manifest.json").read_text())["outcome"]["status"] == "cancelled"


def test_a_container_left_by_a_finished_run_is_swept(repo: Path) -> None:
    """An engine that was away when a run ended keeps its container; the next start removes it."""
    first = radiops(repo, "run", "experiments/quick")
    assert first.returncode == 0, first.stderr
    (run_dir,) = (repo / "experiments" / "quick" / "runs").iterdir()
    client = docker.from_env()
    try:
        leftover = client.containers.create(
            client.images.list(name="radiops/tools")[0],
            name="radiops-node-local1",
            labels={
                "org.radiops.run": run_dir.name,
                "org.radiops.experiment": "quick",
                "org.radiops.role": "main",
                "org.radiops.index": "0",
                "org.radiops.node": "local1",
            },
            network_mode="none",
        )
        result = radiops(repo, "recover")
        assert result.returncode == 0, result.stderr
        assert f"removed radiops-node-local1, left by finished run {run_dir.name}" in result.stderr
        assert leftover.id is not None
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(leftover.id)
    finally:
        client.close()


def test_a_reservation_left_elsewhere_is_named_with_how_to_free_it(repo: Path) -> None:
    """A run of another checkout died and left its exited container: this repository's
    recovery cannot know it, so the waiting run says whose it is and how to free the node."""
    client = docker.from_env()
    try:
        stale = client.containers.run(
            "debian:bookworm-slim",
            ["true"],
            name="radiops-node-local1",
            labels={
                "org.radiops.run": "20260101T000000Z-0badf00d",
                "org.radiops.experiment": "elsewhere",
                "org.radiops.node": "local1",
            },
            network_mode="none",
            detach=True,
        )
        stale.wait(timeout=60)
        result = radiops(repo, "run", "experiments/quick", "--node", "local1", "--wait", "2")
        assert result.returncode == 1, result.stderr  # recorded as an error run
        assert (
            "local1 held by run 20260101T000000Z-0badf00d of elsewhere, whose container exited at "
        ) in result.stderr
        assert "`docker rm radiops-node-local1` on the node's engine, frees it" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get("radiops-node-local1").remove(force=True)
        client.close()
