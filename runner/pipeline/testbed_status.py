"""``radiops testbed status``: every node free or held, quarantined or not, and runs waiting.

All engines are asked at once. "Waiting" runs are the pending records (``pending.json``) of
this repository whose runner still lives and whose run holds no node yet: the engines keep
no queue, so runs of other repositories or hosts that wait are not seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from runner.engine.engines import EngineClient, connect_all
from runner.engine.node_status import NodeStatus, node_status
from runner.model.errors import UsageError
from runner.model.repo import EXPERIMENTS, RUNS, Repository, find_repository
from runner.model.schedule import restrict
from runner.model.testbed import Node, Testbed, resolve_testbed
from runner.pipeline.pending import PENDING, PendingDamaged, is_alive, read_pending


@dataclass(frozen=True, kw_only=True)
class Waiting:
    run: str
    experiment: str
    queued: str


def testbed_status(nodes: Sequence[Node], clients: Mapping[str, EngineClient]) -> list[NodeStatus]:
    """Every node's status, asking all engines at once (a node whose engine is away: error)."""

    def one(node: Node) -> NodeStatus:
        client = clients.get(node.engine)
        if client is None:
            return NodeStatus(
                node=node.name, engine=node.engine, held_by=None, health=None, error="no answer"
            )
        return node_status(client, node)

    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        return list(pool.map(one, nodes))


def waiting_runs(repo_root: Path, statuses: Sequence[NodeStatus]) -> list[Waiting]:
    """Runs of this repository queued by a live runner and holding no node."""
    holding = {s.held_by.run for s in statuses if s.held_by is not None}
    found = []
    for path in sorted(repo_root.glob(f"{EXPERIMENTS}/*/{RUNS}/*/{PENDING}")):
        try:
            record = read_pending(path)
        except PendingDamaged:  # radiops recover says what is wrong with it
            continue
        if record.run_id in holding or is_alive(record.runner) is False:
            continue
        found.append(
            Waiting(
                run=record.run_id,
                experiment=record.experiment,
                queued=record.queued.isoformat(timespec="seconds")[:19] + "Z",
            )
        )
    return found


@dataclass(frozen=True, kw_only=True)
class Opened:
    """The testbed a ``radiops testbed`` command works on, and clients of its answering engines."""

    repo: Repository
    testbed: Testbed
    shown: str
    nodes: list[Node]
    clients: dict[str, EngineClient]
    unreachable: dict[str, str]  # node -> why its engine did not answer

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def open_testbed(cwd: Path, testbed_file: Path | None, node_names: Sequence[str]) -> Opened:
    """The named nodes (default: all) of the repository's (or the given) inventory, connected."""
    repo = find_repository(cwd)
    testbed, shown = resolve_testbed(repo.root, testbed_file, cwd=cwd)
    unknown = [name for name in node_names if name not in testbed.nodes]
    if unknown:
        raise UsageError(
            f"{', '.join(unknown)}: not a node of {shown} (nodes: {', '.join(testbed.nodes)})"
        )
    nodes = restrict(testbed.nodes, node_names)
    clients, problems = connect_all(nodes)
    return Opened(
        repo=repo,
        testbed=testbed,
        shown=shown,
        nodes=nodes,
        clients=clients,
        unreachable={n.name: str(problems[n.engine]) for n in nodes if n.engine in problems},
    )
