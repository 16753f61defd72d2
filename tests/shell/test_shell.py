"""``radiops shell`` on the real engines, driven through a pseudo-terminal as a person would."""

from __future__ import annotations

import getpass
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import docker
import pytest

from runner.model.schedule import reservation_name
from tests.testing.repos import add_scenario, commit_all, make_run_repo, radiops, shell_scenario
from tests.testing.testbed_fixtures import PROJECT, Testbed

pytestmark = pytest.mark.docker

ANNOUNCED = b"exit the shell to free the node"
PROMPT = b"# "  # Debian's sh as root
SESSION = "org.radiops.session"


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


Step = tuple[float, bytes | Callable[["subprocess.Popen[bytes]"], None]]


def in_terminal(
    repo: Path, args: Sequence[str], steps: Sequence[Step], timeout: float = 300
) -> tuple[int, str]:
    """``radiops shell ARGS`` on a pseudo-terminal; once the shell's prompt shows, each step
    waits its seconds then types its bytes (or looks around, while the shell is open). The
    exit code and all the terminal showed."""
    master, slave = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "runner", "shell", *args],
        cwd=repo,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
        start_new_session=True,
    )
    os.close(slave)
    shown, pending = bytearray(), list(steps)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # every end of the terminal closed: radiops is done
                    break
                shown += chunk
            prompted = ANNOUNCED in shown and PROMPT in shown[shown.find(ANNOUNCED) :]
            if pending and prompted:
                pause, step = pending.pop(0)
                time.sleep(pause)
                if callable(step):
                    step(process)
                else:
                    os.write(master, step)
        return process.wait(timeout=60), shown.decode("utf-8", errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)


def assert_node1_free(repo: Path, client: docker.DockerClient) -> None:
    status = radiops(repo, "testbed", "status", "--json", timeout=120)
    assert status.returncode == 0, status.stderr
    (node1,) = (node for node in json.loads(status.stdout)["nodes"] if node["node"] == "node1")
    assert node1["free"] is True and node1["held_by"] is None
    assert not client.containers.list(all=True, filters={"name": reservation_name("node1")})


def session_record(repo: Path) -> dict[str, object]:
    (record,) = (repo / ".radiops" / "sessions").glob("*.json")
    found: dict[str, object] = json.loads(record.read_text())
    assert not list((repo / "experiments" / "work").glob("runs/*"))  # never a run
    return found


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
    assert_node1_free(repo, docker_clients["node1"])


def test_the_time_limit_ends_an_idle_shell_and_frees_the_node(
    repo: Path, docker_clients: dict[str, docker.DockerClient]
) -> None:
    began = time.monotonic()
    code, shown = in_terminal(repo, ["experiments/work", "main", "--for", "5s"], [], timeout=240)
    assert code == 0, shown
    assert "ended because its time (5s) was up; node node1 is free again" in shown
    assert time.monotonic() - began < 180
    assert session_record(repo)["ended_by"] == "time"
    assert_node1_free(repo, docker_clients["node1"])


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
    assert_node1_free(repo, docker_clients["node1"])
