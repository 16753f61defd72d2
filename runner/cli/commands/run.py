"""``radiops run EXPERIMENT``: run every point of its matrix on the testbed."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from runner.cli.command import Command, Context
from runner.cli.signals import cancellable
from runner.gitops.gitinfo import code_info, current_user
from runner.pipeline.experiment_run import RunOptions, run_experiment


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "experiment", type=Path, metavar="EXPERIMENT", help="e.g. experiments/hello"
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a parameter (replaces its matrix sweep); repeatable",
    )
    parser.add_argument(
        "--repeat",
        metavar="N",
        help="run each matrix point N times (1..1000) with distinct seeds, as a group; "
        "overrides the scenario's repeat",
    )
    parser.add_argument("--testbed", type=Path, metavar="FILE", help="use this inventory instead")
    parser.add_argument(
        "--node",
        dest="nodes",
        action="append",
        default=[],
        metavar="NAME",
        help="only use this node; repeatable",
    )
    parser.add_argument(
        "--strict", action="store_true", help="refuse registry images not pinned by digest"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="how long to wait for busy nodes (default 3600)",
    )
    parser.add_argument(
        "--probe-max-age",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="reuse a node's cached radio probe this young (default 3600; 0 probes again)",
    )


def _main(args: argparse.Namespace, context: Context) -> int:
    cwd = context.cwd
    with cancellable() as (cancel, received):
        results = run_experiment(
            args.experiment,
            RunOptions(
                provenance=code_info,
                actor=current_user(),
                sets=tuple(args.sets),
                repeat=args.repeat,
                testbed_file=args.testbed,
                node_names=tuple(args.nodes),
                strict=args.strict,
                wait_s=args.wait,
                probe_max_age_s=args.probe_max_age,
            ),
            cwd=cwd,
            reporter=context.reporter,
            cancel=cancel,
        )
    for result in results:
        print(f"{result.run_id} {result.status} {os.path.relpath(result.run_dir, cwd)}")
    failed = [r for r in results if r.status != "succeeded"]
    for result in failed:
        print(f"radiops: run {result.run_id} {result.status}: {result.reason}", file=sys.stderr)
    if received:
        return 128 + received[0]
    return 1 if failed else 0


COMMAND = Command(
    description="Run every point of the experiment's matrix on the testbed (testbed.yaml, "
    "or the local default testbed when absent) and write one manifest per run under "
    "experiments/NAME/runs/. Exits 0 when every run succeeded.",
    add_arguments=_arguments,
    main=_main,
)
