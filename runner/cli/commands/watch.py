"""``radiops watch``: the CI job without GitHub, for any git remote (a forge or a bare repo).

Polls the remote; for each branch matching the pattern whose head is new, checks
it out in a private clone and does what ``radiops ci`` does. The heads it has
handled are kept in a state file beside the clone, written atomically after
each one, so a restart neither runs a head twice nor skips one; and results
already committed are recognised as such (same scenario, images, inputs).
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pygit2

from runner.cli.command import Command, Context
from runner.cli.signals import cancellable
from runner.gitops.ci_job import CiReport, ci
from runner.gitops.publish import BOT, Identity
from runner.model.errors import EnvironmentProblem, FatalError, UsageError
from runner.model.files import write_atomic
from runner.model.manifest import Trigger
from runner.model.remotes import without_credentials
from runner.model.report import Reporter

STATE_FILE = "state.json"
CLONE_DIR = "clone"


@dataclass(frozen=True, kw_only=True)
class Handled:
    branch: str
    head: str
    report: CiReport | None
    error: str | None = None


def watch(
    *,
    remote_url: str,
    branches: str,
    base: str,
    workdir: Path,
    reporter: Reporter,
    cancel: threading.Event,
    interval_s: float = 30.0,
    once: bool = False,
    publish: bool = True,
    bot: Identity = BOT,
    testbed_file: Path | None = None,
    sleep: Callable[[float], bool] | None = None,
) -> list[Handled]:
    """Handle new heads until cancelled (or one pass with ``once``); what was handled."""
    workdir.mkdir(parents=True, exist_ok=True)
    repo = _clone(remote_url, workdir / CLONE_DIR)
    state_path = workdir / STATE_FILE
    handled: list[Handled] = []
    wait = sleep or cancel.wait
    while not cancel.is_set():
        state = _read_state(state_path)
        for branch, head in _heads(repo, branches, base).items():
            if cancel.is_set():
                break
            if state.get(branch) == head:
                continue
            reporter.line(f"watch: {branch} is at {head[:12]}")
            outcome = _handle(
                repo,
                branch,
                head,
                base=base,
                reporter=reporter,
                cancel=cancel,
                publish=publish,
                bot=bot,
                testbed_file=testbed_file,
            )
            handled.append(outcome)
            if cancel.is_set():
                # stopped part-way: not done. After a restart the head is handled again,
                # and what had finished is recognised and not run twice.
                break
            # when we pushed results, our own commit is the branch's new head: done too
            pushed = outcome.report is not None and outcome.report.pushed
            state[branch] = (_local_tip(repo, branch) or head) if pushed else head
            _write_state(state_path, state)
        if once:
            break
        wait(interval_s)
    return handled


def default_workdir(remote_url: str) -> Path:
    key = hashlib.sha256(remote_url.encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "radiops" / "watch" / key


def _handle(
    repo: pygit2.Repository,
    branch: str,
    head: str,
    *,
    base: str,
    reporter: Reporter,
    cancel: threading.Event,
    publish: bool,
    bot: Identity,
    testbed_file: Path | None,
) -> Handled:
    commit = repo.get(head)
    assert isinstance(commit, pygit2.Commit)
    local = repo.branches.local.get(branch) or repo.branches.local.create(
        branch, commit, force=True
    )
    local.set_target(commit.id)
    repo.checkout(local, strategy=pygit2.enums.CheckoutStrategy.FORCE)
    repo.reset(commit.id, pygit2.enums.ResetMode.HARD)
    try:
        report = ci(
            cwd=Path(repo.workdir),
            base=f"origin/{base}",
            head=head,
            reporter=reporter,
            cancel=cancel,
            publish=publish,
            branch=branch,
            bot=bot,
            testbed_file=testbed_file,
            trigger=Trigger(kind="watch"),
        )
    except FatalError as error:
        # a broken scenario on one branch must not stop the watcher: report, go on
        reporter.line(f"watch: {branch} {head[:12]}: {error}")
        return Handled(branch=branch, head=head, report=None, error=str(error))
    reporter.line(
        f"watch: {branch} {head[:12]}: {len(report.rows)} run(s), "
        f"{'all succeeded' if report.succeeded else 'not all succeeded'}"
    )
    return Handled(branch=branch, head=head, report=report)


def _clone(url: str, path: Path) -> pygit2.Repository:
    if (path / ".git").is_dir():
        repo = pygit2.Repository(str(path))
        if repo.remotes["origin"].url != url:
            cloned = without_credentials(repo.remotes["origin"].url or "")
            raise UsageError(f"{path} is a clone of {cloned}, not {without_credentials(url)}")
        return repo
    try:
        return pygit2.clone_repository(url, str(path))
    except pygit2.GitError as exc:
        raise EnvironmentProblem(f"cannot clone {without_credentials(url)}: {exc}") from None


def _heads(repo: pygit2.Repository, pattern: str, base: str) -> dict[str, str]:
    remote = repo.remotes["origin"]
    try:
        remote.fetch(["+refs/heads/*:refs/remotes/origin/*"], prune=pygit2.enums.FetchPrune.PRUNE)
    except pygit2.GitError as exc:
        shown = without_credentials(remote.url or "origin")
        raise EnvironmentProblem(f"cannot fetch from {shown}: {exc}") from None
    heads = {}
    for name in sorted(repo.branches.remote):
        branch = name.removeprefix("origin/")
        if branch in (base, "HEAD") or not fnmatch.fnmatchcase(branch, pattern):
            continue
        heads[branch] = str(repo.branches.remote[name].peel(pygit2.Commit).id)
    return heads


def _local_tip(repo: pygit2.Repository, branch: str) -> str | None:
    local = repo.branches.local.get(branch)
    return str(local.peel(pygit2.Commit).id) if local is not None else None


def _read_state(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        message = f"{path}: unreadable watch state ({exc}); move it aside to start over"
        raise UsageError(message) from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: unreadable watch state; move it aside to start over")
    return {str(k): str(v) for k, v in data.items()}


def _write_state(path: Path, state: dict[str, str]) -> None:
    write_atomic(path, json.dumps(state, indent=2, sort_keys=True) + "\n")


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--remote", required=True, metavar="URL", help="the git remote")
    parser.add_argument(
        "--branches", default="*", metavar="PATTERN", help="branches to watch (glob, default *)"
    )
    parser.add_argument("--base", default="main", metavar="BRANCH", help="the target branch")
    parser.add_argument(
        "--workdir", type=Path, metavar="DIR", help="clone and state (default: cache)"
    )
    parser.add_argument("--interval", type=float, default=30.0, metavar="SECONDS")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument("--no-push", action="store_true", help="commit results but do not push")
    parser.add_argument("--testbed", type=Path, metavar="FILE", help="inventory to use")


def _main(args: argparse.Namespace, context: Context) -> int:
    with cancellable() as (cancel, received):
        handled = watch(
            remote_url=args.remote,
            branches=args.branches,
            base=args.base,
            workdir=args.workdir or default_workdir(args.remote),
            reporter=context.reporter,
            cancel=cancel,
            interval_s=args.interval,
            once=args.once,
            publish=not args.no_push,
            testbed_file=args.testbed,
        )
    failed = [h for h in handled if h.error or (h.report and not h.report.succeeded)]
    if received:
        return 128 + received[0]
    return 1 if failed else 0


COMMAND = Command(
    description="Without GitHub: poll a git remote (any forge, or a bare repository) and, "
    "for each branch matching PATTERN whose head is new, do what 'radiops ci' does "
    "against BASE. Handled heads are remembered across restarts.",
    add_arguments=_arguments,
    main=_main,
)
