"""``radiops recover``: finish the runs a dead runner left behind (runner/pipeline/recovery.py)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from runner.cli.command import Command, Context
from runner.engine.engines import connect_all
from runner.model.repo import find_repository
from runner.model.report import Reporter
from runner.model.testbed import resolve_testbed
from runner.pipeline.recovery import Skipped, recover
from runner.pipeline.runs import RunResult


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


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--testbed", type=Path, metavar="FILE", help="use this inventory instead")


def _main(args: argparse.Namespace, context: Context) -> int:
    cwd = context.cwd
    done, left = recover_runs(cwd=cwd, testbed_file=args.testbed, reporter=context.reporter)
    for result in done:
        print(f"{result.run_id} {result.status} {os.path.relpath(result.run_dir, cwd)}")
    for skipped in left:
        print(f"left {os.path.relpath(skipped.run_dir, cwd)}: {skipped.reason}")
    if not done and not left:
        print("nothing to recover")
    return 0


COMMAND = Command(
    description="Find runs whose runner died (a pending.json without a manifest, and no "
    "live runner process), stop their containers if they still run, copy their results, "
    "write their manifests with one final state, and free their nodes. radiops run does "
    "this itself when it starts.",
    add_arguments=_arguments,
    main=_main,
)
