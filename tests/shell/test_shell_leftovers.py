"""What a ``radiops shell`` killed before it freed its node leaves, and ``radiops recover``
removing it once the session's time is up (and not before)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import docker
import pytest

from runner.model.schedule import reservation_name
from tests.testing.repos import (
    add_scenario,
    commit_all,
    copy_from_project,
    git,
    make_run_repo,
    radiops,
    shell_scenario,
)
from tests.testing.shells import SESSION, assert_node_free, killed_before_start
from tests.testing.testbed_fixtures import RUN_LABEL, Testbed

pytestmark = pytest.mark.docker


@pytest.fixture
def clients(
    docker_clients: dict[str, docker.DockerClient],
) -> Iterator[dict[str, docker.DockerClient]]:
    yield docker_clients
    left = [
        container
        for client in docker_clients.values()
        for container in client.containers.list(all=True, filters={"label": SESSION})
    ]
    for container in left:
        container.remove(force=True)
    assert not left, "a session's container was left behind"


UNTIL = "org.radiops.until"  # when a session's time is up (ISO 8601, UTC)


def status_of(client: docker.DockerClient, node: str) -> str | None:
    found = client.containers.list(all=True, filters={"name": reservation_name(node)})
    return found[0].status if found else None


def test_a_shell_killed_before_its_container_started_is_removed_once_its_time_is_up(
    testbed: Testbed, tmp_path: Path, clients: dict[str, docker.DockerClient]
) -> None:
    inventory = "nodes:\n" + "".join(
        f"  {node}:\n    engine: {testbed.node_engines[node]}\n" for node in ("node1", "node2")
    )
    repo = make_run_repo(tmp_path, testbed=inventory)
    add_scenario(repo, "work", shell_scenario("work", script="sleep 1"))
    commit_all(repo, "an experiment to open shells in")
    killed_before_start(repo, "experiments/work", "main", "node1", 3)
    killed_before_start(repo, "experiments/work", "main", "node2", 600)
    assert status_of(clients["node1"], "node1") == "created"
    assert status_of(clients["node2"], "node2") == "created"
    time.sleep(3)  # node1's session is over, node2's has 10 minutes left
    recovered = radiops(repo, "recover", timeout=120)
    assert recovered.returncode == 0, recovered.stderr
    said = recovered.stdout + recovered.stderr
    assert f"removed {reservation_name('node1')}, left by session" in said, said
    assert reservation_name("node2") not in said, said
    assert_node_free(repo, clients["node1"], "node1")
    (waiting,) = clients["node2"].containers.list(all=True, filters={"label": SESSION})
    assert waiting.status == "created"  # its radiops shell may still be about to start it
    waiting.remove(force=True)


def test_a_killed_shells_channel_emulator_and_network_go_with_its_container(
    tmp_path: Path, clients: dict[str, docker.DockerClient]
) -> None:
    repo = tmp_path / "radio-lab"  # the local default testbed: simulated radios
    for part in ("experiments/tone-link", "images/tone-link", "images/sdr-base", "images/channel"):
        copy_from_project(part, repo / part)
    (repo / ".gitignore").write_text(".radiops/\n")
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "a radio experiment to open a shell in")
    client = clients["default"]
    said = killed_before_start(repo, "experiments/tone-link", "rx", "local1", 30)
    assert "channel emulator up: 0 TX, 1 RX" in said, said

    def left() -> tuple[list[str], list[str]]:
        containers = client.containers.list(all=True, filters={"label": RUN_LABEL})
        networks = client.networks.list(filters={"label": RUN_LABEL})
        return sorted(f"{c.name} {c.status}" for c in containers), [n.name or "" for n in networks]

    (emulator,), (network,) = left()
    assert emulator.startswith("radiops-channel-") and emulator.endswith(" running")
    assert network.startswith("radiops-run-")
    (shell,) = client.containers.list(all=True, filters={"name": reservation_name("local1")})
    until = datetime.fromisoformat(shell.labels[UNTIL].replace("Z", "+00:00"))
    early = radiops(repo, "recover", timeout=120)  # within its time: all left alone
    assert early.returncode == 0 and "session" not in early.stdout + early.stderr
    assert datetime.now(UTC) < until, "too slow to look within the session's time"
    assert left() == ([emulator], [network])
    assert status_of(client, "local1") == "created"
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 1)
    recovered = radiops(repo, "recover", timeout=120)
    assert recovered.returncode == 0, recovered.stderr
    said = recovered.stdout + recovered.stderr
    assert "removed radiops-channel-" in said and "removed radiops-node-local1" in said, said
    assert left() == ([], [])
    assert_node_free(repo, client, "local1")
