"""``radiops shell`` on the real engines, driven through a pseudo-terminal as a person would."""

from __future__ import annotations

import getpass
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.testing.repos import add_scenario, commit_all, make_run_repo, radiops, shell_scenario
from tests.testing.shells import SESSION, Step, assert_node_free, in_terminal, session_record
from tests.testing.testbed_fixtures import Testbed

pytestmark = pytest.mark.docker


@pytest.fixture
def repo(
    testbed: Testbed, tmp_path: Path, docker_clients: dict[str, docker.DockerClient]
) -> Iterator[Path]:
    inventory = f"nodes:\n  node1:\n    engine: {testbed.node_engines['node1']}\n"
    repo = make_run_repo(tmp_path, testbed=inventory)
    add_scenario(repo, "work", shell_scenario("work", script="sleep 1"))
    commit_all(repo, "an experiment to open a shell in")
    yield repo
    left = docker_clients["node1"].containers.list(all=True, filters={"label": SESSION})
    for container in left:
        container.remove(force=True)
    assert not left, "a session's container was left behind"


def test_a_command_runs_in_the_hardened_container_and_the_node_is_freed(
    repo: Path, docker_clients: dict[str, docker.DockerClient]
) -> None:
    user = getpass.getuser()

    def while_open(_: subprocess.Popen[bytes]) -> None:
        status = radiops(repo, "testbed", "status", timeout=120)
        assert f"node1: held by shell of {user} for work/main (running since" in status.stdout
        code, shown = in_terminal(repo, ["experiments/work", "main", "--node", "node1"], [])
        assert code == 3 and "no free nodes for work" in shown, shown
        assert f"node1 held by shell of {user} for work/main" in shown
        assert "Traceback" not in shown

    steps: list[Step] = [
        (0.5, while_open),
        (0.5, b"sleep 30\r"),
        (1.0, b"\x03"),  # Ctrl-C: to the shell's sleep, not to radiops
        (0.5, b"id -u; grep CapEff /proc/self/status; echo done-$((6*7)); exit\r"),
    ]
    code, shown = in_terminal(repo, ["experiments/work", "main", "--node", "node1"], steps)
    assert code == 0, shown
    assert "done-42" in shown  # the shell lived on after Ctrl-C and ran the command
    assert "CapEff:\t0000000000000000" in shown  # no capability: the run's hardening
    assert "\r\n0\r\n" in shown  # id -u (images/tools runs as root, without capabilities)
    assert "ended because the shell ended; node node1 is free again" in shown
    record = session_record(repo)
    assert record["ended_by"] == "exited" and record["node"] == "node1"
    assert record["role"] == "main" and record["experiment"] == "work"
    assert str(record["image"]).startswith("sha256:")
    assert_node_free(repo, docker_clients["node1"])


def test_the_time_limit_ends_an_idle_shell_and_frees_the_node(
    repo: Path, docker_clients: dict[str, docker.DockerClient]
) -> None:
    began = time.monotonic()
    code, shown = in_terminal(repo, ["experiments/work", "main", "--for", "5s"], [], timeout=240)
    assert code == 0, shown
    assert "ended because its time (5s) was up; node node1 is free again" in shown
    assert time.monotonic() - began < 180
    assert session_record(repo)["ended_by"] == "time"
    assert_node_free(repo, docker_clients["node1"])


def test_a_shell_whose_radiops_dies_is_removed_by_recover_once_its_time_is_up(
    repo: Path, docker_clients: dict[str, docker.DockerClient]
) -> None:
    def die(process: subprocess.Popen[bytes]) -> None:
        process.kill()  # SIGKILL: radiops cannot free the node itself

    args = ["experiments/work", "main", "--for", "8s"]
    code, shown = in_terminal(repo, args, [(0.5, die)])
    assert code == -9, shown
    early = radiops(repo, "recover", timeout=120)  # within its time: left alone
    assert early.returncode == 0 and "session" not in early.stdout + early.stderr
    (container,) = docker_clients["node1"].containers.list(all=True, filters={"label": SESSION})
    assert container.status == "running"
    time.sleep(8)
    recovered = radiops(repo, "recover", timeout=120)
    assert recovered.returncode == 0, recovered.stderr
    assert "over" in recovered.stdout + recovered.stderr
    assert_node_free(repo, docker_clients["node1"])
