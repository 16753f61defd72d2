"""What a run costs on top of its containers: an exit is seen at once, results copied together."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container

import runner.engine.execute as execute
from runner.engine.exit_watch import ExitWatch
from tests.testing.repos import add_scenario, make_run_repo, shell_scenario
from tests.testing.runs import manifest, run_here
from tests.testing.testbed_fixtures import BASE_IMAGE, DockerCleanup, Testbed

pytestmark = pytest.mark.docker


@pytest.fixture
def client(docker_clients: dict[str, docker.DockerClient]) -> docker.DockerClient:
    return docker_clients["default"]


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def sleeper(client: docker.DockerClient, cleanup: DockerCleanup, seconds: int) -> Container:
    """A container that sleeps ``seconds`` once started (created only)."""
    command = ["sleep", str(seconds)]
    created = client.containers.create(
        BASE_IMAGE, command, network_mode="none", labels=cleanup.labels
    )
    return cleanup.container("default", created)


def test_an_exit_wakes_the_watch_before_its_sleep_is_over(
    client: docker.DockerClient, docker_cleanup: DockerCleanup
) -> None:
    container = sleeper(client, docker_cleanup, 1)
    container.start()
    exits = ExitWatch([container])
    start = time.monotonic()
    exits.sleep(20)
    assert time.monotonic() - start < 10  # the exit after 1 s, not the 20 s sleep
    container.reload()
    assert container.status == "exited"


def test_a_wait_the_engine_refuses_wakes_the_watch_too(
    client: docker.DockerClient, docker_cleanup: DockerCleanup
) -> None:
    container = sleeper(client, docker_cleanup, 60)
    container.remove(force=True)  # the engine answers the wait with "no such container"
    exits = ExitWatch([container])
    start = time.monotonic()
    exits.sleep(20)
    assert time.monotonic() - start < 10


def test_the_run_ends_when_its_container_exits_not_at_the_supervisors_next_look(
    testbed: Testbed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # with a 20 s look the supervisor alone would notice the exit up to 20 s late
    monkeypatch.setattr(execute, "IDLE_S", 20.0)
    repo = make_run_repo(tmp_path)
    add_scenario(repo, "short", shell_scenario("short", script="sleep 1", duration="1m"))
    (result,), _ = run_here(repo, "short")
    data = manifest(result)
    assert data["outcome"]["status"] == "succeeded"
    (container,) = data["containers"]
    lag = parse_time(data["timing"]["finished"]) - parse_time(container["finished"])
    assert lag.total_seconds() < 5, lag
