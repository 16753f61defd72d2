"""A node's health state, kept on the node's own engine so every runner sharing it sees it.

Each version of the state is a named volume ``radiops-health-<node>.<seq>`` whose labels hold
the state as JSON; nothing is ever written into it. A new version is the next ``seq``:
creating a volume whose name exists returns the existing one with its own labels, so a
writer that finds another writer's token has lost the race, reads again and retries.
Older versions are removed after a successful write; the highest ``seq`` is the state.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import docker

from runner.engine.engines import ENGINE_ERRORS
from runner.model.errors import EnvironmentProblem
from runner.model.health import HealthState
from runner.model.testbed import Node

PREFIX = "radiops-health-"
LABEL = "org.radiops.health"
NODE_LABEL = LABEL + ".node"
SEQ_LABEL = LABEL + ".seq"
TOKEN_LABEL = LABEL + ".token"
STATE_LABEL = LABEL + ".state"
ATTEMPTS = 20

Update = Callable[[HealthState], HealthState]


def _versions(client: docker.DockerClient, node: str) -> list[tuple[int, Mapping[str, str]]]:
    """Every stored version of ``node``'s state: (seq, labels), oldest first."""
    found = []
    for volume in client.volumes.list(filters={"label": f"{NODE_LABEL}={node}"}):
        labels = volume.attrs.get("Labels") or {}
        if labels.get(SEQ_LABEL, "").isdigit():
            found.append((int(labels[SEQ_LABEL]), labels))
    return sorted(found, key=lambda item: item[0])


def read_health(client: docker.DockerClient, node: str) -> HealthState:
    """``node``'s health as stored on its engine (a fresh state when none is)."""
    versions = _versions(client, node)
    if not versions:
        return HealthState(node=node)
    return HealthState.from_json(versions[-1][1][STATE_LABEL])


def update_health(client: docker.DockerClient, node: str, update: Update) -> HealthState:
    """Apply ``update`` to ``node``'s stored state, safe against other runners doing the same."""
    for _ in range(ATTEMPTS):
        versions = _versions(client, node)
        seq = versions[-1][0] if versions else 0
        current = HealthState.from_json(versions[-1][1][STATE_LABEL]) if versions else None
        new = update(current or HealthState(node=node))
        token = secrets.token_hex(8)
        labels = {
            NODE_LABEL: node,
            SEQ_LABEL: str(seq + 1),
            TOKEN_LABEL: token,
            STATE_LABEL: new.to_json(),
        }
        volume = client.volumes.create(name=f"{PREFIX}{node}.{seq + 1}", labels=labels)
        if (volume.attrs.get("Labels") or {}).get(TOKEN_LABEL) != token:
            continue  # another runner wrote this version first: build on theirs
        for old, _labels in versions:
            _remove(client, f"{PREFIX}{node}.{old}")
        return new
    raise EnvironmentProblem(
        f"node {node}: could not record its health after {ATTEMPTS} attempts (other runners "
        "kept writing it); try again"
    )


def remove_health(client: docker.DockerClient, node: str) -> None:
    """Forget ``node``'s health entirely (tests, and a node taken out of the inventory)."""
    for seq, _labels in _versions(client, node):
        _remove(client, f"{PREFIX}{node}.{seq}")


def _remove(client: docker.DockerClient, name: str) -> None:
    with contextlib.suppress(*ENGINE_ERRORS):  # removed already by another runner
        client.volumes.get(name).remove()


def read_all(
    nodes: Sequence[Node], clients: Mapping[str, docker.DockerClient]
) -> dict[str, HealthState]:
    """Every node's health, asking all engines at once."""

    def one(node: Node) -> HealthState:
        try:
            return read_health(clients[node.engine], node.name)
        except ENGINE_ERRORS as exc:
            raise EnvironmentProblem(
                f"node {node.name}: cannot read its health from {node.engine}: {exc}"
            ) from None

    if not nodes:
        return {}
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        return dict(zip((n.name for n in nodes), pool.map(one, nodes), strict=True))
