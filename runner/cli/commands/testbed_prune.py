"""``radiops testbed prune-datasets [--keep-days N] [--dry-run]``: remove the dataset volumes
no run needs any more, on every engine of the testbed (engine/dataset_prune.py has the rule)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from runner.cli.command import Command, Context
from runner.engine.dataset_prune import Verdict, plan_engine, prune
from runner.model.errors import EnvironmentProblem, UsageError
from runner.model.remotes import without_credentials
from runner.pipeline.testbed_status import open_testbed

DEFAULT_KEEP_DAYS = 30.0


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--testbed", type=Path, metavar="FILE", help="inventory to use")
    parser.add_argument(
        "--keep-days",
        type=float,
        default=DEFAULT_KEEP_DAYS,
        metavar="N",
        help=f"keep a complete dataset used within N days (default {DEFAULT_KEEP_DAYS:g}; "
        "0 removes every dataset no container mounts)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would be removed, remove nothing"
    )


def _main(args: argparse.Namespace, context: Context) -> int:
    keep_days: float = args.keep_days
    if not math.isfinite(keep_days) or keep_days < 0:
        raise UsageError(f"--keep-days {keep_days:g}: give a number of days, 0 or more")
    opened = open_testbed(context.cwd, args.testbed, [])
    done: list[Verdict] = []
    try:
        engines = sorted({node.engine for node in opened.nodes if node.engine in opened.clients})
        for engine in engines:
            client = opened.clients[engine]
            shown = without_credentials(engine)
            context.reporter.line(f"{shown}: looking at its dataset volumes")
            verdicts = plan_engine(client, shown, keep_s=keep_days * 86400)
            done += verdicts if args.dry_run else prune(client, verdicts)
    finally:
        opened.close()
    for line in _lines(done, dry_run=args.dry_run):
        print(line)
    if opened.unreachable:
        away = sorted(set(opened.unreachable.values()))
        raise EnvironmentProblem(f"not pruned, the engine did not answer: {'; '.join(away)}")
    failed = [v for v in done if v.error]
    if failed:
        raise EnvironmentProblem(
            f"{len(failed)} volume(s) not removed: "
            + "; ".join(f"{v.volume} on {v.engine}: {v.error}" for v in failed)
        )
    return 0


def _lines(verdicts: list[Verdict], *, dry_run: bool) -> list[str]:
    lines = []
    for verdict in verdicts:
        size = "size unknown" if verdict.size is None else f"{verdict.size} bytes"
        if verdict.action == "keep":
            word = "kept"
        elif dry_run:
            word = "would remove"
        else:
            word = "removed" if verdict.removed else "NOT removed"
        lines.append(
            f"{verdict.engine}: {word} {verdict.volume} (sha256:{verdict.sha256[:16]}, "
            f"{size}): {verdict.reason}"
        )
    chosen = [v for v in verdicts if v.action == "remove" and (dry_run or v.removed)]
    freed = sum(v.size or 0 for v in chosen)
    unknown = sum(1 for v in chosen if v.size is None)
    tail = f" (and {unknown} of unknown size)" if unknown else ""
    verb = "would remove" if dry_run else "removed"
    free = "would free" if dry_run else "freed"
    kept = sum(1 for v in verdicts if v.action == "keep")
    lines.append(f"{verb} {len(chosen)} dataset volume(s), {free} {freed} bytes{tail}; kept {kept}")
    return lines


COMMAND = Command(
    description="Remove the dataset volumes no run needs any more, on every engine of the "
    "testbed: a complete dataset no container mounts and no run used for --keep-days days "
    "(a run's preparation records each use), and a half-filled one whose fill helper is "
    "gone. Prints each volume's fate and the bytes freed where the engine tells.",
    add_arguments=_arguments,
    main=_main,
)
