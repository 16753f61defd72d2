"""Run containers cannot escalate, and a hostile one cannot take its node down (issue 8, item 7).

A real ``radiops run`` on the local testbed: its container is inspected while
it runs, and a fork bomb and a memory hog end as recorded runs after which the
same node serves the next run. The options themselves are unit-tested in
tests/run/test_planning.py (test_container_options_are_hardened); the radio
probe's and the channel emulator's containers in tests/radios and tests/channel.
"""

from __future__ import annotations

import time
from pathlib import Path

import docker
import pytest

from tests.testing.hardening import assert_cannot_escalate
from tests.testing.repos import add_scenario, commit_all, make_run_repo, shell_scenario
from tests.testing.runs import inspect_while_running, manifest, run_on
from tests.testing.testbed_fixtures import Testbed

pytestmark = pytest.mark.docker

NODE = "local1"  # a virtual node of the local default testbed, on the default engine
WAIT_S = 900.0  # other tests may hold the node for a while


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
        docker_clients["default"], repo, "watched", node_names=(NODE,)
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
    bomb = run_on(repo, "fork-bomb", node_names=(NODE,))
    data = manifest(bomb)
    (container,) = data["containers"]
    assert container["resources"]["pids_peak"] <= 64  # the bomb hit its ceiling
    assert bomb.status in {"succeeded", "failed", "timeout"}, bomb.reason
    assert "bombing" in data["logs"][0]["tail"]
    assert time.monotonic() - start < WAIT_S

    hog = run_on(repo, "memory-hog", node_names=(NODE,))
    data = manifest(hog)
    (container,) = data["containers"]
    assert hog.status == "failed", hog.reason
    assert container["oom_killed"] is True
    assert "hog ended with 137" in data["logs"][0]["tail"]  # SIGKILL from the OOM killer

    after = run_on(repo, "after", node_names=(NODE,))
    assert after.status == "succeeded", after.reason
    assert "still serving" in manifest(after)["logs"][0]["tail"]
    client = docker_clients["default"]
    for name in ("fork-bomb", "memory-hog", "after"):
        left = client.containers.list(all=True, filters={"label": f"org.radiops.experiment={name}"})
        assert left == []
