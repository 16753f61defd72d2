"""``radiops testbed check [NODE...]`` and ``radiops testbed clear NODE``: node health.

A check runs each node's declared health check (testbed.yaml ``health:``), all nodes at
once, and records the result on the node's engine: failing ``quarantine_after`` times in a
row quarantines the node, a passing check restores it. ``clear`` lifts a quarantine by hand.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from runner.cli.command import Command, Context
from runner.engine.health_store import update_health
from runner.gitops.gitinfo import code_info, current_user
from runner.model.errors import EnvironmentProblem
from runner.model.health import HEALTH_FILE, cleared, write_health_record
from runner.pipeline.experiment_run import RunOptions
from runner.pipeline.health_check import check_nodes
from runner.pipeline.testbed_status import open_testbed


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("nodes", nargs="*", metavar="NODE", help="nodes to check (default: all)")
    parser.add_argument("--testbed", type=Path, metavar="FILE", help="inventory to use")
    parser.add_argument(
        "--record",
        nargs="?",
        type=Path,
        const=Path(HEALTH_FILE),
        metavar="FILE",
        help=f"also write the nodes' health for the site (default file: {HEALTH_FILE} at the "
        "repository's root; relative paths are from there; commit it to publish it)",
    )


def _main(args: argparse.Namespace, context: Context) -> int:
    opened = open_testbed(context.cwd, args.testbed, args.nodes)
    try:
        reachable = [node for node in opened.nodes if node.name not in opened.unreachable]
        options = RunOptions(provenance=code_info, actor=current_user(), wait_s=600.0)
        checked = check_nodes(
            opened.repo,
            (opened.testbed, opened.shown),
            reachable,
            opened.clients,
            options,
            reporter=context.reporter,
        )
    finally:
        opened.close()
    if args.record is not None:
        target = args.record if args.record.is_absolute() else opened.repo.root / args.record
        write_health_record(target, [item.state for item in checked])
    for item in checked:
        verdict = "pass" if item.result.ok else "FAIL"
        state = item.state
        note = ""
        if state.quarantined:
            note = f" (quarantined since {state.quarantined_since})"
        elif state.failures:
            note = f" ({state.failures} failure(s) in a row)"
        print(f"{item.node}: {verdict}: {item.result.reason}{note}")
    for name, why in opened.unreachable.items():
        print(f"{name}: FAIL: its engine does not answer, nothing recorded: {why}")
    failed = opened.unreachable or any(not item.result.ok for item in checked)
    return 1 if failed else 0


def _clear_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("nodes", nargs="+", metavar="NODE", help="nodes to clear")
    parser.add_argument("--testbed", type=Path, metavar="FILE", help="inventory to use")


def _clear(args: argparse.Namespace, context: Context) -> int:
    opened = open_testbed(context.cwd, args.testbed, args.nodes)
    try:
        if opened.unreachable:
            name, why = next(iter(opened.unreachable.items()))
            raise EnvironmentProblem(f"node {name}: its engine does not answer: {why}")
        operator = current_user()
        for node in opened.nodes:
            before = update_health(
                opened.clients[node.engine], node.name, lambda old: cleared(old, by=operator)
            )
            print(f"{node.name}: cleared by {before.cleared_by}: runs may be placed on it")
    finally:
        opened.close()
    return 0


COMMAND = Command(
    description="Run each node's health check (testbed.yaml `health:`: the radio probe and "
    "optionally a short experiment judged on its metrics), all nodes at once, and record "
    "the result on the node's engine. A node failing quarantine_after checks in a row "
    "(default 2) is quarantined: no run is placed on it until a check passes or "
    "`radiops testbed clear NODE`. Exits 1 when a check fails.",
    add_arguments=_arguments,
    main=_main,
)

CLEAR = Command(
    description="Lift the quarantine of the named nodes and reset their failure count "
    "(their history is kept), for every runner sharing the testbed.",
    add_arguments=_clear_arguments,
    main=_clear,
)
