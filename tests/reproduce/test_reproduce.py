"""``radiops reproduce``: a published run re-run from its manifest, judged check by check.

Real git repositories, the real local default engine. The fork test acts as a
new user: clone, the README's set-up command (scripts/demo), reproduce.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from runner.engine.images import local_reference
from tests.testing.repos import commit_all, copy_from_project, git, published, radiops
from tests.testing.testbed_fixtures import DockerCleanup, Testbed

pytestmark = pytest.mark.docker


def manifest_of(repo: Path, run_id: str) -> Path:
    return repo / "experiments" / "hello" / "runs" / run_id / "manifest.json"


def edit_manifest(repo: Path, run_id: str, change: Any) -> None:
    path = manifest_of(repo, run_id)
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


@pytest.fixture
def upstream(tmp_path: Path) -> tuple[Path, str]:
    return published(tmp_path)


def test_a_fork_reproduces_a_published_run(tmp_path: Path) -> None:
    upstream, run_id = published(tmp_path, whole=True)
    fork = tmp_path / "fork"
    git(tmp_path, "clone", "-q", str(upstream), str(fork))
    # the README's set-up command, in the fork: it installs radiops from the fork itself
    # (the fork gets a .venv of its own, installed from the lock in use: RADIOPS_LOCK)
    env = {k: v for k, v in os.environ.items() if k != "RADIOPS_VENV"}
    setup = subprocess.run(
        ["scripts/demo"], cwd=fork, capture_output=True, text=True, timeout=1200, env=env
    )
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    result = subprocess.run(
        [str(fork / ".venv/bin/radiops"), "reproduce", "experiments/hello", "--run", run_id],
        cwd=fork,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # the report of this reproduction, among whatever runs the fork had committed
    (shown,) = [x for x in result.stdout.splitlines() if x.startswith("reproduced: ")]
    report = fork / shown.removeprefix("reproduced: ").replace(
        "reproduction.md", "reproduction.json"
    )
    assert report.parent.parent == fork / "experiments/hello/runs"
    data = json.loads(report.read_text())
    assert data["reproduced"] is True and data["recorded_run"] == run_id
    names = {check["name"]: check["verdict"] for check in data["checks"]}
    assert names == {
        "scenario": "pass",
        "image hello": "pass",
        "outcome": "pass",
        "metric lines": "pass",
        "output greeting.txt": "pass",
        "inventory hello": "pass",  # the recorded image's inventory against the re-run's
    }
    new = json.loads((report.parent / "manifest.json").read_text())
    recorded = json.loads(manifest_of(upstream, run_id).read_text())
    assert new["code"]["commit"] == recorded["code"]["commit"]
    assert new["trigger"]["kind"] == "reproduce"
    assert new["parameters"] == recorded["parameters"]


def test_a_tampered_output_is_not_reproduced(upstream: tuple[Path, str]) -> None:
    repo, run_id = upstream
    kept = manifest_of(repo, run_id).parent / "outputs" / "hello-0" / "greeting.txt"
    kept.write_text("hello\nhello\nforged\n")
    result = radiops(repo, "reproduce", "experiments/hello", "--run", run_id)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "not reproduced: output greeting.txt" in result.stderr
    assert "the recorded file was altered" in result.stdout


def test_a_changed_parameter_is_not_reproduced(upstream: tuple[Path, str]) -> None:
    repo, run_id = upstream
    edit_manifest(repo, run_id, lambda m: m["parameters"].update(repeat=4))
    result = radiops(repo, "reproduce", "experiments/hello", "--run", run_id)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "not reproduced: metric lines, output greeting.txt" in result.stderr
    assert "fail  metric lines: expected 3 ± 0, got 4" in result.stdout


def test_an_image_that_no_longer_matches_is_not_reproduced(upstream: tuple[Path, str]) -> None:
    repo, run_id = upstream

    def other_image(manifest: dict[str, Any]) -> None:
        manifest["images"][0].update(image_id="sha256:" + "0" * 64, context_sha256="0" * 64)

    edit_manifest(repo, run_id, other_image)
    result = radiops(repo, "reproduce", "experiments/hello", "--run", run_id)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "not reproduced: image hello" in result.stderr


def test_bad_requests_get_clear_errors(upstream: tuple[Path, str]) -> None:
    repo, _ = upstream
    result = radiops(repo, "reproduce", "experiments/hello", "--run", "../../etc")
    assert result.returncode == 2 and "not a run id" in result.stderr
    result = radiops(repo, "reproduce", "experiments/hello", "--run", "20990101T000000Z-00000000")
    assert result.returncode == 2 and "has no run 20990101T000000Z-00000000" in result.stderr
    assert "Traceback" not in result.stderr


def reproduction(repo: Path, result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON report of the reproduction ``result`` printed the path of."""
    line = next(line for line in result.stdout.splitlines() if line.startswith("reproduced: "))
    report = repo / line.removeprefix("reproduced: ")
    data: dict[str, Any] = json.loads(report.with_name("reproduction.json").read_text())
    return data


def test_a_testbed_run_is_reproduced_with_its_image_pulled_by_digest(
    testbed: Testbed,
    tmp_path: Path,
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
) -> None:
    repo = tmp_path / "lab"
    for part in ("experiments/hello", "images/hello"):
        copy_from_project(part, repo / part)
    (repo / "images/hello/case").write_text(docker_cleanup.case_id)  # an image of its own
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "hello")
    on_testbed = ("--testbed", str(testbed.testbed_file))
    result = radiops(repo, "run", "experiments/hello", *on_testbed)
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.split()[0]
    commit_all(repo, f"results: hello {run_id}")
    (record,) = json.loads(manifest_of(repo, run_id).read_text())["images"]
    assert record["ref"] == f"{testbed.registry}/hello@{record['digest']}"
    docker_cleanup.manifest("hello", record["digest"])
    docker_cleanup.image(local_reference("hello", record["context_sha256"]))

    def forget_the_image() -> None:  # as on a fresh machine: only the registry has it
        for client in docker_clients.values():
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(record["image_id"], force=True)

    forget_the_image()
    pulled = radiops(repo, "reproduce", "experiments/hello", "--run", run_id, *on_testbed)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert f"images/hello: pulled {record['ref']}" in pulled.stderr
    image = next(c for c in reproduction(repo, pulled)["checks"] if c["name"] == "image hello")
    assert image == {
        "name": "image hello",
        "expected": record["digest"],
        "got": record["digest"],
        "verdict": "pass",
    }

    # the registry is away: rebuilt from the recorded commit, and the report says so
    forget_the_image()
    away = tmp_path / "registry-away.yaml"
    away.write_text(testbed.testbed_file.read_text().replace(testbed.registry, "127.0.0.1:9"))
    rebuilt = radiops(
        repo, "reproduce", "experiments/hello", "--run", run_id, "--testbed", str(away)
    )
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "note: the registry 127.0.0.1:9 does not answer" in rebuilt.stderr
    image = next(c for c in reproduction(repo, rebuilt)["checks"] if c["name"] == "image hello")
    assert image["verdict"] == "note", image
    assert image["got"].startswith("rebuilt from the same build context")
