"""What a node is doing now, read from its engine: its reservation (a run's container), health."""

from __future__ import annotations

from dataclasses import dataclass

import docker

from runner.engine.container_spec import LABEL_PREFIX, held_by
from runner.engine.engines import ENGINE_ERRORS
from runner.engine.health_store import read_health
from runner.model.health import HealthState
from runner.model.schedule import reservation_name
from runner.model.testbed import Node


@dataclass(frozen=True, kw_only=True)
class Holder:
    """The run whose container reserves a node (``execute.holder`` says it in words)."""

    run: str
    experiment: str
    state: str  # the container's: created, running, exited...
    since: str  # started (or created) at, ISO 8601 UTC
    holder: str = ""  # in words: ``run ID of EXPERIMENT`` or ``shell of USER for EXPERIMENT/ROLE``
    session: str | None = None  # an interactive session's id (``radiops shell``)


@dataclass(frozen=True, kw_only=True)
class NodeStatus:
    node: str
    engine: str
    held_by: Holder | None
    health: HealthState | None
    error: str | None = None  # the engine did not answer


def node_status(client: docker.DockerClient, node: Node) -> NodeStatus:
    """``node``'s reservation and health; an unreachable engine is reported, not raised."""
    try:
        return NodeStatus(
            node=node.name,
            engine=node.engine,
            held_by=_holder(client, node.name),
            health=read_health(client, node.name),
        )
    except ENGINE_ERRORS as exc:
        return NodeStatus(
            node=node.name, engine=node.engine, held_by=None, health=None, error=str(exc)
        )


def _holder(client: docker.DockerClient, node: str) -> Holder | None:
    found = client.containers.list(all=True, filters={"name": f"^{reservation_name(node)}$"})
    if not found:
        return None
    container = found[0]
    labels = container.labels or {}
    state = container.attrs.get("State", {})
    started = state.get("StartedAt") or ""
    since = started if not started.startswith("0001") else container.attrs.get("Created", "")
    return Holder(
        run=labels.get(LABEL_PREFIX + "run", "?"),
        experiment=labels.get(LABEL_PREFIX + "experiment", "?"),
        state=container.status,
        since=since[:19] + "Z" if since else "?",
        holder=held_by(labels),
        session=labels.get(LABEL_PREFIX + "session"),
    )
