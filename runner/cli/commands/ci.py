"""``radiops ci --base B --head H``: run what a change touches and record it in git
(runner/gitops/ci_job.py), keeping the pull request's comment current."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from runner.cli.command import Command, Context
from runner.cli.signals import cancellable
from runner.gitops.ci_job import ci
from runner.gitops.comment import DEFAULT_API_URL, GitHub, upsert_comment
from runner.gitops.publish import Identity
from runner.model.errors import FatalError
from runner.model.manifest import PullRequest, Trigger
from runner.model.report import Reporter


def _arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--base", required=True, metavar="REV", help="the target branch or commit")
    add("--head", required=True, metavar="REV", help="the commit checked out here")
    add("--rerun", action="store_true", help="run again what already ran")
    add("--push", action="store_true", help="push the result commits")
    add("--remote", default="origin", help="the remote to push to (default origin)")
    add("--branch", help="the branch to commit to (default: the checked-out one)")
    add("--bot-name", default="radiops", help="author of result commits")
    add("--bot-email", default="radiops@users.noreply.github.com", help="its e-mail address")
    add("--testbed", type=Path, metavar="FILE", help="inventory to use")
    add("--summary", type=Path, metavar="FILE", help="append the summary here too")
    add("--site-url", metavar="URL", help="link runs to their pages on the site")
    add("--pr-number", type=int, metavar="N", help="the pull request, if any")
    add("--pr-title", default="", metavar="TITLE", help="its title")
    add("--pr-url", default="", metavar="URL", help="its web page")


def _main(args: argparse.Namespace, context: Context) -> int:
    pull_request = _pull_request(args)
    reporter = context.reporter
    with cancellable() as (cancel, received):
        report = ci(
            cwd=context.cwd,
            base=args.base,
            head=args.head,
            reporter=reporter,
            cancel=cancel,
            rerun=args.rerun,
            publish=args.push,
            remote=args.remote,
            branch=args.branch,
            bot=Identity(name=args.bot_name, email=args.bot_email),
            testbed_file=args.testbed,
            trigger=Trigger(
                kind="pull_request"
                if pull_request or os.environ.get("RADIOPS_PR_NUMBER")
                else "push",
                actor=os.environ.get("RADIOPS_PR_AUTHOR") or None,
                pull_request=pull_request,
            ),
            site_url=args.site_url,
            summary_path=args.summary,
            comment=_pull_request_comment(pull_request, reporter),
        )
    print(report.summary, end="")
    if received:
        return 128 + received[0]
    return 0 if report.succeeded else 1


def _pull_request_comment(
    pull_request: PullRequest | None, reporter: Reporter
) -> Callable[[str], None] | None:
    """Keeps the pull request's one comment current, when a token allows it; else None.

    A comment that cannot be written is said in the log: it never fails the job.
    """
    env = os.environ
    if pull_request is None or not env.get("GITHUB_TOKEN") or not env.get("GITHUB_REPOSITORY"):
        return None
    github = GitHub(
        api_url=env.get("GITHUB_API_URL", DEFAULT_API_URL),
        repository=env["GITHUB_REPOSITORY"],
        token=env["GITHUB_TOKEN"],
    )

    def post(body: str) -> None:
        try:
            upsert_comment(github, pull_request.number, body)
        except FatalError as error:
            reporter.line(f"ci: the pull request comment was not updated: {error}")

    return post


def _pull_request(args: argparse.Namespace) -> PullRequest | None:
    """From --pr-* flags, else the RADIOPS_PR_* and GitHub variables a workflow sets."""
    env = os.environ
    number = args.pr_number or int(env.get("RADIOPS_PR_NUMBER") or 0)
    if not number:
        return None
    url = args.pr_url
    if not url and env.get("GITHUB_SERVER_URL") and env.get("GITHUB_REPOSITORY"):
        url = f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}/pull/{number}"
    if not url.startswith(("https://", "http://")):
        return None  # the manifest keeps what it can prove; the trigger still says pull_request
    title = args.pr_title or env.get("RADIOPS_PR_TITLE", "")
    return PullRequest(number=number, title=title[:1000], url=url)


COMMAND = Command(
    description="Run every experiment the change BASE..HEAD touches (strict: images pinned "
    "by digest), commit each run's directory, optionally push, and print a markdown "
    "summary. Exits 1 when a run did not succeed, after everything was recorded.",
    add_arguments=_arguments,
    main=_main,
)
