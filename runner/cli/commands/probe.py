"""``radiops testbed probe [NODE...]``: what radios the nodes really have, against testbed.yaml.

Runs UHD's discovery in a short hardened container from images/sdr-base on
each node, with that node's radio devices, and compares what it finds with
the inventory. Results are cached per node (engine and inventory unchanged).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from runner.cli.command import Command, Context
from runner.engine.engines import connect
from runner.model.errors import UsageError
from runner.model.repo import find_repository
from runner.model.schedule import restrict
from runner.model.testbed import resolve_testbed
from runner.pipeline.probing import DEFAULT_MAX_AGE_S, Probed, probe_nodes


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


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("nodes", nargs="*", metavar="NODE", help="nodes to probe (default: all)")
    parser.add_argument("--testbed", type=Path, metavar="FILE", help="inventory to use")
    parser.add_argument(
        "--max-age",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="reuse a cached probe this young (default 3600; 0 probes again)",
    )


def _main(args: argparse.Namespace, context: Context) -> int:
    probed = probe(
        args.nodes,
        cwd=context.cwd,
        testbed_file=args.testbed,
        max_age_s=args.max_age,
        progress=context.reporter.line,
    )
    for item in probed:
        note = " (cached)" if item.cached else ""
        print(f"{item.node.name}: {item.result.describe()}{note}")
    problems = [problem for item in probed for problem in item.problems]
    for problem in problems:
        print(f"radiops: {problem}", file=sys.stderr)
    return 1 if problems else 0


COMMAND = Command(
    description="Run UHD's discovery on each node (in a hardened container from "
    "images/sdr-base, with the node's radio devices) and compare what it finds with "
    "testbed.yaml. Exits 1 when a node lacks a radio the file claims.",
    add_arguments=_arguments,
    main=_main,
)
