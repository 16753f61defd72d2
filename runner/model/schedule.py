"""Which node hosts which container of a run. Pure: the engines decide who wins a node.

A node runs one experiment at a time. The reservation is the run's own
container on that node, named ``radiops-node-<node>``: the engine refuses a
second container of that name, so two runners sharing a testbed can never
book one node twice, with no lock server.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace

from runner.model.experiment import Role
from runner.model.gpus import gpu_shortage, has_gpus
from runner.model.plan import Instance, RunPlan
from runner.model.testbed import Node, Radio

RESERVATION_PREFIX = "radiops-node-"


def reservation_name(node: str) -> str:
    return f"{RESERVATION_PREFIX}{node}"


def can_host(
    candidate: Node,
    *,
    node: str | None,
    tags: Collection[str],
    radio_type: str | None,
    needs_radio: bool,
) -> bool:
    """True when ``candidate`` satisfies a role's placement needs."""
    if node is not None and candidate.name != node:
        return False
    if not set(tags) <= set(candidate.tags):
        return False
    if radio_type is not None and radio_type not in candidate.radio_types:
        return False
    return not (needs_radio and not candidate.radios)


def radio_for(role: Role, node: Node) -> Radio | None:
    """The node's radio that serves ``role`` (the first of the wanted type)."""
    wanted = role.radio.type if role.radio else None
    for radio in node.radios:
        if wanted is None or radio.type == wanted:
            return radio
    return None


def uses_simulated_radio(role: Role, node: Node) -> bool:
    """True when ``role`` placed on ``node`` talks to the channel emulator."""
    if role.radio is None:
        return False
    radio = radio_for(role, node)
    return radio is not None and radio.simulated


def one_medium(plan: RunPlan, placement: Mapping[Instance, Node]) -> bool:
    """True when the run's simulated radios share one engine, as the emulator's network must."""
    roles = plan.experiment.roles
    engines = {
        node.engine
        for instance, node in placement.items()
        if uses_simulated_radio(roles[instance.role], node)
    }
    return len(engines) <= 1


def role_can_use(role: Role, candidate: Node) -> bool:
    radio = role.radio
    return has_gpus(candidate.gpus, role.gpus) and can_host(
        candidate,
        node=role.node,
        tags=role.tags,
        radio_type=radio.type if radio else None,
        needs_radio=radio is not None,
    )


def place(
    plan: RunPlan,
    nodes: Sequence[Node],
    *,
    busy: Collection[str] = (),
    ignore_medium: bool = False,
) -> dict[Instance, Node] | None:
    """A node for every container of ``plan``, each on its own free node; None if none fits.

    Instances with the fewest candidates are placed first, and the search
    backtracks, so a tight placement (a named node, a rare radio) is found
    whenever one exists.
    """
    roles = plan.experiment.roles
    free = [n for n in nodes if n.name not in busy]
    options = {
        instance: [n for n in free if role_can_use(roles[instance.role], n)]
        for instance in plan.instances
    }
    order = sorted(options, key=lambda i: (len(options[i]), i.role, i.index))
    chosen: dict[Instance, Node] = {}

    def search(position: int) -> bool:
        if position == len(order):
            return ignore_medium or one_medium(plan, chosen)
        instance = order[position]
        taken = {n.name for n in chosen.values()}
        for candidate in options[instance]:
            if candidate.name in taken:
                continue
            chosen[instance] = candidate
            if search(position + 1):
                return True
            del chosen[instance]
        return False

    return (
        dict(sorted(chosen.items(), key=lambda kv: (kv[0].role, kv[0].index)))
        if search(0)
        else None
    )


def unplaceable_reason(plan: RunPlan, nodes: Sequence[Node]) -> str | None:
    """Why ``plan`` can never be placed on ``nodes``, even with all of them free."""
    if place(plan, nodes) is not None:
        return None
    roles = plan.experiment.roles
    shortage = gpu_shortage(
        {name: role.gpus for name, role in roles.items()},
        {node.name: node.gpus for node in nodes},
        {
            name: [n.name for n in nodes if role_can_use(replace(role, gpus=0), n)]
            for name, role in roles.items()
        },
    )
    if shortage:
        return shortage
    for name, role in roles.items():
        fitting = [n.name for n in nodes if role_can_use(role, n)]
        if len(fitting) < role.count:
            return f"role {name} needs {role.count} node(s) and only {len(fitting)} fit" + (
                f" ({', '.join(fitting)})" if fitting else ""
            )
    if place(plan, nodes, ignore_medium=True) is not None:
        return (
            "its simulated radios must be on nodes of one Docker engine (they share the "
            "run's channel emulator network), and no such set of nodes fits its roles"
        )
    needed = len(plan.instances)
    return (
        f"the run needs {needed} distinct nodes that fit its roles; the testbed cannot offer them"
    )


def restrict(nodes: Mapping[str, Node], names: Sequence[str]) -> list[Node]:
    """The nodes named (``--node``), in inventory order; all nodes when none are named."""
    if not names:
        return list(nodes.values())
    return [node for name, node in nodes.items() if name in names]
