"""``radiops recover``: finish the runs a dead runner left behind (runner/pipeline/recovery.py)."""

from __future__ import annotations

from pathlib import Path

from runner.engine.docker_node import docker_nodes
from runner.engine.engines import connect_all
from runner.model.repo import find_repository
from runner.model.report import Reporter
from runner.model.testbed import resolve_testbed
from runner.pipeline.context import RunResult
from runner.pipeline.recovery import Skipped, recover


def recover_runs(
    *, cwd: Path, testbed_file: Path | None, reporter: Reporter
) -> tuple[list[RunResult], list[Skipped]]:
    repo = find_repository(cwd)
    testbed, _ = resolve_testbed(repo.root, testbed_file, cwd=cwd)
    nodes = list(testbed.nodes.values())
    clients, failed = connect_all(nodes)
    try:
        for exc in failed.values():
            reporter.line(f"{exc}; its runs are left for later")
        return recover(repo.root, nodes, docker_nodes(clients), reporter=reporter)
    finally:
        for client in clients.values():
            client.close()
