"""``radiops comment --pull-request N --body-file FILE``: post or update the summary comment.

The testbed workflow's publish job runs it from the trusted base checkout with no
dependency installed (``python3 -m runner comment``): this module, like
runner/gitops/comment.py, imports only the standard library and radiops.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from runner.cli.command import Command, Context
from runner.gitops.comment import DEFAULT_API_URL, GitHub, upsert_comment
from runner.model.errors import UsageError


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pull-request", type=int, required=True, metavar="NUMBER")
    parser.add_argument("--body-file", type=Path, required=True, metavar="FILE")
    parser.add_argument(
        "--repository",
        default=os.environ.get("GITHUB_REPOSITORY", ""),
        help="owner/name (default: $GITHUB_REPOSITORY)",
    )
    parser.add_argument(
        "--author",
        default=None,
        metavar="LOGIN",
        help="only edit a marked comment written by this login, e.g. 'github-actions[bot]'",
    )
    parser.add_argument("--timeout", type=float, default=30, metavar="SECONDS")


def _main(args: argparse.Namespace, context: Context) -> int:
    try:
        body = args.body_file.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise UsageError(f"cannot read {args.body_file}: {error.strerror}") from None
    github = GitHub(
        api_url=os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL,
        repository=args.repository,
        token=os.environ.get("GITHUB_TOKEN", ""),
        author=args.author,
    )
    outcome = upsert_comment(github, args.pull_request, body, timeout=args.timeout)
    print(f"radiops comment: {outcome} the summary comment on pull request #{args.pull_request}")
    return 0


COMMAND = Command(
    description="Create or edit the radiops summary comment of a pull request. Reads "
    "GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_API_URL from the environment (the token is "
    "never taken from the command line).",
    add_arguments=_arguments,
    main=_main,
)
