"""``radiops testbed probe [NODE...]``: what radios the nodes really have, against testbed.yaml.

Runs UHD's discovery in a short hardened container from images/sdr-base on
each node, with that node's radio devices, and compares what it finds with
the inventory. Results are cached per node (engine and inventory unchanged).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker

from runner.engine.distribute import distribute
from runner.engine.engines import connect
from runner.engine.probe import ProbeCache, ProbeResult, compare, engine_id, probe_node
from runner.model.errors import UsageError
from runner.model.repo import PROBE_CACHE, Repository, find_repository
from runner.model.schedule import restrict
from runner.model.testbed import Node, Testbed, resolve_testbed

SDR_BASE = "images/sdr-base"
DEFAULT_MAX_AGE_S = 3600.0


@dataclass(frozen=True, kw_only=True)
class Probed:
    node: Node
    result: ProbeResult
    problems: tuple[str, ...]
    cached: bool


def probe(
    node_names: Sequence[str],
    *,
    cwd: Path,
    testbed_file: Path | None = None,
    max_age_s: float = DEFAULT_MAX_AGE_S,
    progress: Callable[[str], None] = print,
) -> list[Probed]:
    """Probe the named nodes (default: all); what each has, and how it differs from the file."""
    repo = find_repository(cwd)
    testbed, shown = resolve_testbed(repo.root, testbed_file, cwd=cwd)
    unknown = [name for name in node_names if name not in testbed.nodes]
    if unknown:
        raise UsageError(f"{', '.join(unknown)}: not a node of {shown}")
    nodes = restrict(testbed.nodes, node_names)
    clients = {node.engine: connect(node) for node in nodes}
    try:
        return probe_nodes(repo, testbed, nodes, clients, max_age_s=max_age_s, progress=progress)
    finally:
        for client in clients.values():
            client.close()


def probe_nodes(
    repo: Repository,
    testbed: Testbed,
    nodes: Sequence[Node],
    clients: Mapping[str, docker.DockerClient],
    *,
    max_age_s: float = DEFAULT_MAX_AGE_S,
    progress: Callable[[str], None],
) -> list[Probed]:
    """Probe ``nodes`` (a cached result is used while it is valid), compared with the inventory."""
    needed = {node.engine: clients[node.engine] for node in nodes}
    placed = distribute(SDR_BASE, repo, needed, registry=testbed.registry, progress=progress)
    cache = ProbeCache(repo.root / PROBE_CACHE, within=repo.root)
    found = []
    for node in nodes:
        client = clients[node.engine]
        engine = engine_id(client)
        image = placed.ids[node.engine]
        result = cache.get(node, engine_id=engine, probe_image=image, max_age_s=max_age_s)
        cached = result is not None
        if result is None:
            result = probe_node(client, node, image)
            cache.put(node, engine_id=engine, probe_image=image, result=result)
        problems = tuple(compare(node, result))
        found.append(Probed(node=node, result=result, problems=problems, cached=cached))
    return found
