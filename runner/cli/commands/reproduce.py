"""``radiops reproduce``: re-run a published run and judge it; ``radiops bundle``: archive a
run. The work is runner/reproduce/rerun.py's."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from runner.cli.command import Command, Context
from runner.cli.signals import cancellable
from runner.model.errors import UsageError
from runner.reproduce.rerun import bundle, reproduce, reproduce_bundle


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "experiment", type=Path, nargs="?", metavar="EXPERIMENT", help="e.g. experiments/hello"
    )
    parser.add_argument("--run", dest="run_id", metavar="RUN_ID", help="the run to reproduce")
    parser.add_argument(
        "--bundle", type=Path, metavar="FILE", help="reproduce the run in this bundle instead"
    )
    parser.add_argument(
        "--testbed", type=Path, metavar="FILE", help="run on this inventory (default: local)"
    )


def _main(args: argparse.Namespace, context: Context) -> int:
    if args.bundle is not None and (args.experiment is not None or args.run_id is not None):
        raise UsageError("give either --bundle FILE or EXPERIMENT --run RUN_ID, not both")
    if args.bundle is None and (args.experiment is None or args.run_id is None):
        raise UsageError("give EXPERIMENT --run RUN_ID (e.g. experiments/hello --run ...)")
    cwd, reporter = context.cwd, context.reporter
    with cancellable() as (cancel, received):
        if args.bundle is not None:
            found = reproduce_bundle(
                args.bundle, cwd=cwd, testbed_file=args.testbed, reporter=reporter, cancel=cancel
            )
        else:
            found = reproduce(
                str(args.experiment),
                args.run_id,
                cwd=cwd,
                testbed_file=args.testbed,
                reporter=reporter,
                cancel=cancel,
            )
    for check in found.checks:
        print(f"{check.verdict:4}  {check.name}: expected {check.expected}, got {check.got}")
    report = os.path.relpath(found.run_dir / "reproduction.md", cwd)
    if received:
        return 128 + received[0]
    if found.reproduced:
        print(f"reproduced: {report}")
        return 0
    failed = ", ".join(c.name for c in found.checks if c.verdict == "fail")
    print(f"radiops: not reproduced: {failed} ({report})", file=sys.stderr)
    return 1


def _bundle_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", metavar="RUN_ID", help="e.g. 20261121T233100Z-1a2b3c4d")
    parser.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="where to write it (default: NAME-RUN_ID.radiops-bundle.tar here)",
    )


def _bundle_main(args: argparse.Namespace, context: Context) -> int:
    written = bundle(args.run_id, cwd=context.cwd, output=args.output, reporter=context.reporter)
    print(f"wrote {os.path.relpath(written, context.cwd)}")
    return 0


COMMAND = Command(
    description="Re-run EXPERIMENT's run RUN_ID from the commit its manifest records (or "
    "the run in a bundle), with its parameters and seeds, on the given testbed (default: the "
    "local simulated one), and compare: images, outcome, metrics within the scenario's "
    "tolerances, outputs by sha256 or PSD distance. Writes reproduction.md and "
    "reproduction.json beside the new run. A run of a repeated group (repeat: N) re-runs "
    "the whole group and judges each metric by Welch's 95% confidence interval of the "
    "difference of means, within the tolerance. Exits 0 only when the run reproduced.",
    add_arguments=_arguments,
    main=_main,
)
BUNDLE = Command(
    description="Write RUN_ID's manifest, run directory, stored outputs, the experiment and "
    "images at the recorded commit, and each image it ran (docker save) into one tar, which "
    "radiops reproduce --bundle reproduces with no registry and no git history.",
    add_arguments=_bundle_arguments,
    main=_bundle_main,
)
