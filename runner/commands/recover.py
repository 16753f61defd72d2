"""``radiops recover``: finish the runs a dead runner left behind (runner/recovery.py)."""

from __future__ import annotations

from pathlib import Path

from runner.engines import connect
from runner.errors import EnvironmentProblem
from runner.recovery import Skipped, recover
from runner.repo import find_repository
from runner.report import Reporter
from runner.runs import RunResult
from runner.testbed import resolve_testbed


def recover_runs(
    *, cwd: Path, testbed_file: Path | None, reporter: Reporter
) -> tuple[list[RunResult], list[Skipped]]:
    repo = find_repository(cwd)
    testbed, _ = resolve_testbed(repo.root, testbed_file, cwd=cwd)
    nodes = list(testbed.nodes.values())
    clients = {}
    try:
        for node in nodes:
            if node.engine in clients:
                continue
            try:
                clients[node.engine] = connect(node)
            except EnvironmentProblem as exc:
                reporter.line(f"{node.name}: {exc}; its runs are left for later")
        return recover(repo.root, nodes, clients, reporter=reporter)
    finally:
        for client in clients.values():
            client.close()
