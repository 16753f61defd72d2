"""GPUs: which of a node's GPUs each container gets. Pure: no Docker.

The inventory lists a node's GPUs (``nodes.<node>.gpus``, each with the id the
engine's driver knows it by); a role asks ``gpus: N``. A node is held by one
run at a time, and the containers of one run that share a node never share a
GPU: ``assign_gpus`` hands out each id at most once per node.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from runner.model.plan import Instance

GPU_DRIVER = "nvidia"  # the only device-request driver radiops asks engines for


@dataclass(frozen=True, kw_only=True)
class Gpu:
    """One GPU of a node: the driver's device id (an index or a UUID) and what it is."""

    id: str
    model: str = ""


class GpuShortage(Exception):
    """The containers placed on a node ask more GPUs than it has."""


def has_gpus(gpus: Sequence[Gpu], wanted: int) -> bool:
    """True when a node with ``gpus`` can serve a role asking ``wanted`` GPUs."""
    return len(gpus) >= wanted


def assign_gpus(
    wanted: Mapping[Instance, int],
    node_of: Mapping[Instance, str],
    gpus_of: Mapping[str, Sequence[Gpu]],
) -> dict[Instance, tuple[str, ...]]:
    """The GPU ids each container gets: distinct per node, in inventory order.

    ``wanted``: GPUs each container asks; ``node_of``: its node's name;
    ``gpus_of``: each node's GPUs. Containers asking none get an empty tuple.
    Raises GpuShortage when a node's containers ask more than it has.
    """
    taken: dict[str, int] = {}
    assigned: dict[Instance, tuple[str, ...]] = {}
    for instance in sorted(node_of, key=lambda i: (i.role, i.index)):
        node, count = node_of[instance], wanted.get(instance, 0)
        first = taken.get(node, 0)
        ids = tuple(gpu.id for gpu in gpus_of.get(node, ()))[first : first + count]
        if len(ids) < count:
            raise GpuShortage(
                f"node {node} has {len(gpus_of.get(node, ()))} GPU(s); its containers ask "
                f"{first + count}"
            )
        taken[node] = first + count
        assigned[instance] = ids
    return assigned


def gpu_shortage(
    wanted: Mapping[str, int],
    gpus_of: Mapping[str, Sequence[Gpu]],
    fitting: Mapping[str, Collection[str]],
) -> str | None:
    """Why a role asking GPUs fits no node, or None.

    ``wanted``: GPUs each role asks; ``gpus_of``: each node's GPUs;
    ``fitting``: the nodes each role's other needs (node, tags, radio) allow.
    """
    with_gpus = {node: len(gpus) for node, gpus in gpus_of.items() if gpus}
    shown = ", ".join(f"{node} ({count})" for node, count in with_gpus.items()) or "none"
    for role, count in wanted.items():
        allowed = list(fitting.get(role, ()))
        if count <= 0 or any(with_gpus.get(n, 0) >= count for n in allowed):
            continue
        if any(have >= count for have in with_gpus.values()):
            return (
                f"role {role} asks {count} GPU(s), and none of the nodes its node, tags and "
                f"radio allow ({', '.join(allowed) or 'none'}) has that many; nodes with "
                f"GPUs: {shown}"
            )
        return (
            f"role {role} asks {count} GPU(s); nodes with GPUs: {shown}; declare them "
            f'under nodes.<node>.gpus in testbed.yaml (e.g. gpus: [{{id: "0"}}])'
        )
    return None
