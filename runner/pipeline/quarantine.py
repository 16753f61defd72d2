"""Quarantined nodes are left out of a run's placement; a run that needs one says why."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from runner.engine.engines import EngineClient
from runner.engine.health_store import read_all
from runner.model.errors import EnvironmentProblem
from runner.model.health import quarantine_message
from runner.model.plan import RunPlan
from runner.model.report import Reporter
from runner.model.schedule import unplaceable_reason
from runner.model.testbed import Node


def healthy_nodes(
    plans: Sequence[RunPlan],
    nodes: Sequence[Node],
    clients: Mapping[str, EngineClient],
    *,
    cannot: str,
    reporter: Reporter,
) -> list[Node]:
    """``nodes`` without the quarantined ones; EnvironmentProblem when a plan then fits none."""
    states = read_all(nodes, clients)
    quarantined = [states[node.name] for node in nodes if states[node.name].quarantined]
    if not quarantined:
        return list(nodes)
    names = {state.node for state in quarantined}
    healthy = [node for node in nodes if node.name not in names]
    for plan in plans:
        reason = unplaceable_reason(plan, healthy) if healthy else "every node is quarantined"
        if reason:
            raise EnvironmentProblem(
                f"{cannot} now: {reason}; " + "; ".join(quarantine_message(s) for s in quarantined)
            )
    for state in quarantined:
        reporter.line(f"skipping node {state.node}: quarantined since {state.quarantined_since}")
    return healthy
