"""The nodes' radios as UHD finds them, against the inventory; a probe is cached per node.

Runs UHD's discovery in a short hardened container from images/sdr-base on each
node, with that node's radio devices. ``radiops testbed probe`` shows the result;
every run checks its radios with it first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker

from runner.engine.distribute import distribute
from runner.engine.probe import ProbeCache, ProbeResult, compare, engine_id, probe_node
from runner.model.repo import STATE, Repository
from runner.model.testbed import Node, Testbed

SDR_BASE = "images/sdr-base"
CACHE_FILE = Path(STATE) / "probes.json"
DEFAULT_MAX_AGE_S = 3600.0


@dataclass(frozen=True, kw_only=True)
class Probed:
    node: Node
    result: ProbeResult
    problems: tuple[str, ...]
    cached: bool


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
    cache = ProbeCache(repo.root / CACHE_FILE, within=repo.root)
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
