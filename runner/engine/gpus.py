"""GPUs through the engine's device requests, and whether an engine can honour them.

A container asking GPUs gets exactly the ids ``model/gpus.assign_gpus`` gave
it, as one ``DeviceRequest`` of the nvidia driver. An engine without the
NVIDIA Container Toolkit creates such a container but cannot start it, so a
run whose GPU roles may land there is refused before anything starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import docker
from docker.types import DeviceRequest

from runner.model.errors import EnvironmentProblem
from runner.model.experiment import Experiment
from runner.model.gpus import GPU_DRIVER, GpuShortage, assign_gpus
from runner.model.plan import Instance, RunPlan
from runner.model.schedule import role_can_use
from runner.model.testbed import Node

TOOLKIT_HINT = (
    "install the NVIDIA Container Toolkit on the node and register its runtime "
    "(nvidia-ctk runtime configure --runtime=docker, then restart the engine)"
)


def gpu_options(ids: Sequence[str]) -> dict[str, Any]:
    """``containers.create`` options giving a container the GPUs ``ids`` and no other."""
    if not ids:
        return {}
    request = DeviceRequest(driver=GPU_DRIVER, device_ids=list(ids), capabilities=[["gpu"]])
    return {"device_requests": [request]}


def granted_gpus(attrs: Mapping[str, Any]) -> list[str]:
    """The GPU ids a created container was given, as its engine reports them (inspect)."""
    requests = (attrs.get("HostConfig") or {}).get("DeviceRequests") or []
    return [
        str(device)
        for request in requests
        if request.get("Driver") == GPU_DRIVER
        for device in request.get("DeviceIDs") or []
    ]


def engine_runs_gpus(info: Mapping[str, Any]) -> bool:
    """True when an engine's ``info()`` lists the nvidia runtime."""
    return GPU_DRIVER in (info.get("Runtimes") or {})


def check_gpu_engines(
    experiment: Experiment, nodes: Iterable[Node], clients: Mapping[str, docker.DockerClient]
) -> None:
    """Refuse a run whose GPU roles fit a node whose engine cannot start GPU containers."""
    for name, role in experiment.roles.items():
        if role.gpus <= 0:
            continue
        for node in nodes:
            client = clients.get(node.engine)
            if client is None or not role_can_use(role, node):
                continue
            if not engine_runs_gpus(client.info()):
                raise EnvironmentProblem(
                    f"role {name} asks {role.gpus} GPU(s) and may be placed on node "
                    f"{node.name}, whose engine has no nvidia runtime: {TOOLKIT_HINT}; or "
                    f"remove the node's gpus from the inventory"
                )


def run_gpus(plan: RunPlan, placement: Mapping[Instance, Node]) -> dict[Instance, tuple[str, ...]]:
    """The GPU ids each container of the run gets (none for a role asking none)."""
    roles = plan.experiment.roles
    try:
        return assign_gpus(
            {instance: roles[instance.role].gpus for instance in placement},
            {instance: node.name for instance, node in placement.items()},
            {node.name: node.gpus for node in placement.values()},
        )
    except GpuShortage as exc:  # place() gives each container its own node: not expected
        raise EnvironmentProblem(f"{plan.experiment.name}: {exc}") from None
