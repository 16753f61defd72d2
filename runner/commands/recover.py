"""``radiops recover``: finish the runs a dead runner left behind (runner/recovery.py)."""

from __future__ import annotations

from pathlib import Path

from runner.engines import connect_all
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
    clients, failed = connect_all(nodes)
    try:
        for exc in failed.values():
            reporter.line(f"{exc}; its runs are left for later")
        return recover(repo.root, nodes, clients, reporter=reporter)
    finally:
        for client in clients.values():
            client.close()
