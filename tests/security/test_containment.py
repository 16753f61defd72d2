"""Run containers cannot escalate, and a hostile one cannot take its node down (issue 8, item 7).

A real ``radiops run`` on the local testbed: its container is inspected while
it runs, and a fork bomb and a memory hog end as recorded runs after which the
same node serves the next run. The options themselves are unit-tested in
tests/run/test_planning.py (test_container_options_are_hardened); the radio
probe's and the channel emulator's containers in tests/radios and tests/channel.
"""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from runner.cli.commands.run import run
from runner.engine.engine_kind import DOCKER, EngineKind, hardening
from runner.model.report import LineReporter
from runner.pipeline.runs import RunResult
from tests.testing.repos import add_scenario, commit_all, make_run_repo, shell_scenario
from tests.testing.testbed_fixtures import Testbed

pytestmark = pytest.mark.docker

NODE = "local1"  # a virtual node of the local default testbed, on the default engine
WAIT_S = 900.0  # other tests may hold the node for a while


def run_on(repo: Path, experiment: str, **options: Any) -> RunResult:
    (result,) = run(
        Path("experiments") / experiment,
        cwd=repo,
        reporter=LineReporter(io.StringIO()),
        cancel=threading.Event(),
        live_logs=False,
        wait_s=WAIT_S,
        **options,
    )
    return result


def manifest(result: RunResult) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((result.run_dir / "manifest.json").read_text())
    return data


def inspect_while_running(
    client: docker.DockerClient, repo: Path, experiment: str, **options: Any
) -> tuple[dict[str, Any], RunResult]:
    """``docker inspect`` of the run's container while it runs, and the run's result."""
    results: list[RunResult] = []
    errors: list[BaseException] = []

    def go() -> None:
        try:
            results.append(run_on(repo, experiment, **options))
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    runner = threading.Thread(target=go)
    runner.start()
    attrs: dict[str, Any] | None = None
    deadline = time.monotonic() + WAIT_S
    while attrs is None and runner.is_alive() and time.monotonic() < deadline:
        for container in client.containers.list(
            filters={"label": f"org.radiops.experiment={experiment}", "status": "running"}
        ):
            attrs = client.api.inspect_container(str(container.id))
        time.sleep(0.2)
    runner.join(WAIT_S)
    if errors:
        raise errors[0]
    assert attrs is not None, "the run's container was never seen running"
    return attrs, results[0]


def assert_cannot_escalate(
    attrs: dict[str, Any], *, cap_add: list[str] | None, kind: EngineKind = DOCKER
) -> None:
    """The hardening every run container has, read from ``kind``'s inspect in its own words."""
    host = attrs["HostConfig"]
    assert hardening(kind, attrs) == {
        "engine": kind,
        "all_capabilities_dropped": True,
        "capabilities_added": sorted(cap_add or []),
        "no_new_privileges": True,
        "privileged": False,
        "private_ipc": True,
        "own_pid_namespace": True,
        "own_uts_namespace": True,
        "init": True,
    }
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["PidsLimit"] is not None and 0 < host["PidsLimit"] <= 100_000
    assert host["Memory"] > 0 and host["MemorySwap"] == host["Memory"]  # no swap on top
    assert not host["Binds"] and not host.get("VolumesFrom") and not host.get("Mounts")
    assert attrs["Mounts"] == []  # no docker socket, no host path, no volume
    assert not host["Devices"]
    assert not host.get("PortBindings")
    assert host["UsernsMode"] == ""


SLEEPER = shell_scenario(
    "watched", script="grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; sleep 4", duration="30s"
)


def test_a_run_container_has_no_privilege_to_escalate_with(
    testbed: Testbed, docker_clients: dict[str, docker.DockerClient], tmp_path: Path
) -> None:
    repo = make_run_repo(tmp_path)
    add_scenario(repo, "watched", SLEEPER)
    commit_all(repo, "watched")
    attrs, result = inspect_while_running(
        docker_clients["default"], repo, "watched", node_names=[NODE]
    )
    assert_cannot_escalate(attrs, cap_add=None)
    assert attrs["HostConfig"]["NetworkMode"] == "none"
    assert list(attrs["NetworkSettings"]["Networks"]) == ["none"]
    assert result.status == "succeeded", result.reason
    # what the kernel says from inside: no effective capability, no new privileges
    tail = manifest(result)["logs"][0]["tail"]
    assert "CapEff:\t0000000000000000" in tail and "NoNewPrivs:\t1" in tail


def test_only_what_the_inventory_grants_is_added(
    testbed: Testbed, docker_clients: dict[str, docker.DockerClient], tmp_path: Path
) -> None:
    inventory = (
        "nodes:\n  granted:\n"
        f"    engine: {testbed.node_engines['node1']}\n"
        "    capabilities: [SYS_NICE]\n    network: host\n"
        "    limits: {pids: 200, memory: 256M}\n"
    )
    repo = make_run_repo(tmp_path, testbed=inventory)
    add_scenario(repo, "watched", SLEEPER)
    commit_all(repo, "watched")
    attrs, result = inspect_while_running(docker_clients["node1"], repo, "watched")
    assert_cannot_escalate(attrs, cap_add=["SYS_NICE"])
    assert attrs["HostConfig"]["NetworkMode"] == "host"
    assert attrs["HostConfig"]["PidsLimit"] == 200
    assert attrs["HostConfig"]["Memory"] == 256 << 20
    assert result.status == "succeeded", result.reason
    # SYS_NICE alone: bit 23
    assert "CapEff:\t0000000000800000" in manifest(result)["logs"][0]["tail"]


FORK_BOMB = shell_scenario(
    "fork-bomb",
    # exec: the shell becomes the sleep without forking, so it outlives the bomb
    script="echo bombing; b() { b | b & }; b; exec sleep 30",
    duration="6s",
    extra="timeout: 10s\n",
).replace("command:", "resources: {pids: 64}\n    command:")
MEMORY_HOG = shell_scenario(
    "memory-hog",
    script="echo hogging; tail /dev/zero; echo hog ended with $?",
    duration="30s",
).replace("command:", "resources: {memory: 64M}\n    command:")
AFTER = shell_scenario("after", script="echo still serving", duration="30s")


def test_a_fork_bomb_and_a_memory_hog_are_contained_and_the_node_serves_on(
    testbed: Testbed, docker_clients: dict[str, docker.DockerClient], tmp_path: Path
) -> None:
    repo = make_run_repo(tmp_path)
    for name, text in (("fork-bomb", FORK_BOMB), ("memory-hog", MEMORY_HOG), ("after", AFTER)):
        add_scenario(repo, name, text)
    commit_all(repo, "hostile scenarios")

    start = time.monotonic()
    bomb = run_on(repo, "fork-bomb", node_names=[NODE])
    data = manifest(bomb)
    (container,) = data["containers"]
    assert container["resources"]["pids_peak"] <= 64  # the bomb hit its ceiling
    assert bomb.status in {"succeeded", "failed", "timeout"}, bomb.reason
    assert "bombing" in data["logs"][0]["tail"]
    assert time.monotonic() - start < WAIT_S

    hog = run_on(repo, "memory-hog", node_names=[NODE])
    data = manifest(hog)
    (container,) = data["containers"]
    assert hog.status == "failed", hog.reason
    assert container["oom_killed"] is True
    assert "hog ended with 137" in data["logs"][0]["tail"]  # SIGKILL from the OOM killer

    after = run_on(repo, "after", node_names=[NODE])
    assert after.status == "succeeded", after.reason
    assert "still serving" in manifest(after)["logs"][0]["tail"]
    client = docker_clients["default"]
    for name in ("fork-bomb", "memory-hog", "after"):
        left = client.containers.list(all=True, filters={"label": f"org.radiops.experiment={name}"})
        assert left == []
