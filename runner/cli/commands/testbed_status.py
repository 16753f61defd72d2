"""``radiops testbed status [--json]``: every node free or held, quarantined or not, and the
runs of this repository waiting for a node. All engines are asked at once."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from runner.cli.command import Command, Context
from runner.engine.node_status import NodeStatus
from runner.model.problems import printable
from runner.model.remotes import without_credentials
from runner.pipeline.testbed_status import Waiting, open_testbed, testbed_status, waiting_runs


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("nodes", nargs="*", metavar="NODE", help="nodes to show (default: all)")
    parser.add_argument("--testbed", type=Path, metavar="FILE", help="inventory to use")
    parser.add_argument("--json", action="store_true", help="one JSON document, for scripts")


def _main(args: argparse.Namespace, context: Context) -> int:
    started = time.monotonic()
    opened = open_testbed(context.cwd, args.testbed, args.nodes)
    try:
        statuses = testbed_status(opened.nodes, opened.clients)
    finally:
        opened.close()
    statuses = [
        s if s.node not in opened.unreachable else _away(s, opened.unreachable[s.node])
        for s in statuses
    ]
    waiting = waiting_runs(opened.repo.root, statuses)
    elapsed = time.monotonic() - started
    if args.json:
        print(json.dumps(_document(statuses, waiting, elapsed), indent=2))
    else:
        for status in statuses:
            print(_line(status))
        for run in waiting:
            print(f"waiting: run {run.run} of {run.experiment}, queued {run.queued}")
        if not waiting:
            print("waiting: none (runs of this repository queued for a node)")
    return 0


def _away(status: NodeStatus, why: str) -> NodeStatus:
    return NodeStatus(node=status.node, engine=status.engine, held_by=None, health=None, error=why)


def _line(status: NodeStatus) -> str:
    if status.error is not None:
        return f"{status.node}: unknown: its engine does not answer ({status.error})"
    held = status.held_by
    use = f"held by {printable(held.holder)} ({held.state} since {held.since})" if held else "free"
    health = status.health
    last = health.last if health else None
    if health is not None and health.quarantined:
        state = f"QUARANTINED since {health.quarantined_since}: {health.reason}"
    elif last is not None:
        state = f"healthy (last check {last.at}: {'pass' if last.ok else 'fail'})"
    else:
        state = "healthy (never checked)"
    return f"{status.node}: {use}; {state}"


def _document(
    statuses: list[NodeStatus], waiting: list[Waiting], elapsed_s: float
) -> dict[str, Any]:
    nodes = []
    for status in statuses:
        health = status.health
        nodes.append(
            {
                "node": status.node,
                "engine": without_credentials(status.engine),
                "free": status.error is None and status.held_by is None,
                "held_by": asdict(status.held_by) if status.held_by else None,
                "quarantined": bool(health and health.quarantined),
                "health": json.loads(health.to_json()) if health else None,
                "error": status.error,
            }
        )
    return {
        "nodes": nodes,
        "waiting": [asdict(run) for run in waiting],
        "elapsed_s": round(elapsed_s, 3),
    }


COMMAND = Command(
    description="Show every node of the testbed: free or held (by which run of which "
    "experiment, since when), quarantined or not with its last health check, and the runs "
    "of this repository waiting for a node (queued by a live runner, holding none). "
    "All engines are asked at once.",
    add_arguments=_arguments,
    main=_main,
)
