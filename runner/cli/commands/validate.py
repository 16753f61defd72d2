"""``radiops validate [PATH...]``: check scenarios and the inventory, report every problem."""

from __future__ import annotations

import argparse
from pathlib import Path

from runner.cli.command import Command, Context
from runner.pipeline.validation import validate


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="experiment directories, scenario files, or the repository (default: the "
        "repository around the current directory)",
    )


def _main(args: argparse.Namespace, context: Context) -> int:
    summary = validate(args.paths, cwd=context.cwd)
    print(
        f"valid: {summary.experiments} experiment(s), {summary.images} image directory(ies), "
        f"{summary.manifests} manifest(s), testbed: {summary.testbed}"
    )
    return 0


COMMAND = Command(
    description="Check scenarios, image directories and testbed.yaml against the schemas "
    "and each other. Prints every problem as file:line:column: message; exits 1 when "
    "anything is invalid.",
    add_arguments=_arguments,
    main=_main,
)
