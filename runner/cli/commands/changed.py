"""``radiops changed --base B --head H``: the experiments a change touches, and why."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from runner.cli.command import Command, Context
from runner.gitops.changes import Change, changed_experiments, git_repository
from runner.model.problems import printable


def changed(*, cwd: Path, base: str, head: str) -> list[Change]:
    """The experiments touched, deleted or renamed on ``head`` since it left ``base``.

    The repository is the git repository holding ``cwd``; UsageError outside
    one, or for a revision that names no commit. When the history holds no
    merge base (a shallow clone), the fallback is logged as a warning.
    """
    return changed_experiments(git_repository(cwd), base, head)


def render(changes: Sequence[Change], *, as_json: bool) -> str:
    """``changes`` as JSON (a list of objects) or as aligned lines of text."""
    if as_json:
        return json.dumps(
            [
                {
                    "experiment": change.experiment,
                    "kind": change.kind,
                    "reasons": list(change.reasons),
                    "renamed_to": change.renamed_to,
                }
                for change in changes
            ],
            indent=2,
        )
    if not changes:
        return "no experiment is touched"
    labels = [_shown(_label(change)) for change in changes]
    width = max(len(label) for label in labels)
    return "\n".join(
        f"{change.kind:<7}  {label:<{width}}  ({_shown('; '.join(change.reasons))})"
        for change, label in zip(changes, labels, strict=True)
    )


def _label(change: Change) -> str:
    if change.renamed_to is not None:
        return f"{change.experiment} -> {change.renamed_to}"
    return change.experiment


def _shown(text: str) -> str:
    """``text`` safe for a terminal: paths come from pull requests, and may hold
    bytes that are not UTF-8 or control characters."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return printable(text)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", required=True, metavar="REV", help="e.g. origin/main")
    parser.add_argument("--head", default="HEAD", metavar="REV", help="default HEAD")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _main(args: argparse.Namespace, context: Context) -> int:
    print(render(changed(cwd=context.cwd, base=args.base, head=args.head), as_json=args.json))
    return 0


COMMAND = Command(
    description="List the experiments the change from the merge base of BASE and HEAD to "
    "HEAD touches: scenario or README edits, edits in the build context of an image a role "
    "uses, edits to declared inputs, changes of nodes a role names in testbed.yaml. "
    "Deleted and renamed experiments are listed as such.",
    add_arguments=_arguments,
    main=_main,
)
