"""The ``radiops`` command line. Only ``main`` turns errors into exit codes."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runner import __version__
from runner.errors import FatalError
from runner.problems import ProblemsFound

if TYPE_CHECKING:
    from runner.manifest import PullRequest
    from runner.report import LineReporter

EXIT_INTERRUPTED = 130
EXIT_BUG = 70  # EX_SOFTWARE


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse exits on its own; keep its exit code (2) but add the way out
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: {message}\n(see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="radiops",
        description="Run software-defined-radio experiments from a git repository.",
    )
    parser.add_argument("--version", action="version", version=f"radiops {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    validate = commands.add_parser(
        "validate",
        help="check scenarios and testbed.yaml, reporting every problem",
        description="Check scenarios, image directories and testbed.yaml against the schemas "
        "and each other. Prints every problem as file:line:column: message; exits 1 when "
        "anything is invalid.",
    )
    validate.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="experiment directories, scenario files, or the repository (default: the "
        "repository around the current directory)",
    )

    new = commands.add_parser(
        "new",
        help="scaffold a new experiment",
        description="Create experiments/NAME/ with a scenario and README, and an image for it "
        "under images/NAME/ unless --image names an existing one. Never overwrites.",
    )
    new.add_argument("name", metavar="NAME", help="the experiment's name: a lowercase slug")
    new.add_argument(
        "--image",
        metavar="IMAGE",
        help="use this image (images/<dir> or a registry reference) instead of making one",
    )
    new.add_argument("--title", help="a one-line title (default: from the name)")

    run = commands.add_parser(
        "run",
        help="run an experiment on the testbed",
        description="Run every point of the experiment's matrix on the testbed (testbed.yaml, "
        "or the local default testbed when absent) and write one manifest per run under "
        "experiments/NAME/runs/. Exits 0 when every run succeeded.",
    )
    run.add_argument("experiment", type=Path, metavar="EXPERIMENT", help="e.g. experiments/hello")
    run.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a parameter (replaces its matrix sweep); repeatable",
    )
    run.add_argument("--testbed", type=Path, metavar="FILE", help="use this inventory instead")
    run.add_argument(
        "--node",
        dest="nodes",
        action="append",
        default=[],
        metavar="NAME",
        help="only use this node; repeatable",
    )
    run.add_argument(
        "--strict", action="store_true", help="refuse registry images not pinned by digest"
    )
    run.add_argument(
        "--wait",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="how long to wait for busy nodes (default 3600)",
    )

    images = commands.add_parser(
        "images",
        help="build and push the repository's images, keep images.lock",
        description="Build images/<dir> build contexts (skipped when unchanged), push them to "
        "the testbed's registry and record their digests in images.lock.",
    )
    actions = images.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    actions.required = True
    for action, text in (
        ("build", "build the images (default: all of images/)"),
        ("push", "build if needed, push to the testbed registry, update images.lock"),
    ):
        sub = actions.add_parser(action, help=text, description=text)
        sub.add_argument("paths", nargs="*", metavar="IMAGE", help="e.g. images/hello")
        sub.add_argument("--engine", metavar="URL", help="Docker engine (default: the local one)")
        if action == "push":
            sub.add_argument("--testbed", type=Path, metavar="FILE", help="inventory to use")
    lock = actions.add_parser(
        "lock",
        help="check images.lock against the build contexts",
        description="Drop entries of images that no longer exist; with --check, fail when an "
        "entry is stale (the context changed since it was pushed).",
    )
    lock.add_argument("--check", action="store_true", help="exit 1 when images.lock is stale")

    pin = commands.add_parser(
        "pin",
        help="rewrite registry image references in scenarios to @sha256 digests",
        description="Resolve every role image given as a mutable registry tag to its digest "
        "and rewrite it in place, keeping the rest of the file byte for byte.",
    )
    pin.add_argument("paths", nargs="*", metavar="PATH", help="scenarios (default: all)")
    pin.add_argument("--testbed", type=Path, metavar="FILE", help="inventory to use")

    attest = commands.add_parser(
        "attest",
        help="print a run as an in-toto Statement v1",
        description="Print the run as an in-toto Statement v1 (subjects: its outputs and logs "
        "with their sha256; predicate: its manifest), for signing with cosign or in-toto.",
    )
    attest.add_argument("run", metavar="RUN", help="a run id, or the run's directory")

    ci = commands.add_parser(
        "ci",
        help="run what a change touches, commit the results (the CI job)",
        description="Run every experiment the change BASE..HEAD touches (strict: images pinned "
        "by digest), commit each run's directory, optionally push, and print a markdown "
        "summary. Exits 1 when a run did not succeed, after everything was recorded.",
    )
    ci.add_argument("--base", required=True, metavar="REV", help="the target branch or commit")
    ci.add_argument("--head", required=True, metavar="REV", help="the commit checked out here")
    ci.add_argument("--rerun", action="store_true", help="run again what already ran")
    ci.add_argument("--push", action="store_true", help="push the result commits")
    ci.add_argument("--remote", default="origin", help="the remote to push to (default origin)")
    ci.add_argument("--branch", help="the branch to commit to (default: the checked-out one)")
    ci.add_argument("--bot-name", default="radiops", help="author of result commits")
    ci.add_argument(
        "--bot-email", default="radiops@users.noreply.github.com", help="its e-mail address"
    )
    ci.add_argument("--testbed", type=Path, metavar="FILE", help="inventory to use")
    ci.add_argument("--summary", type=Path, metavar="FILE", help="append the summary here too")
    ci.add_argument("--site-url", metavar="URL", help="link runs to their pages on the site")
    ci.add_argument("--pr-number", type=int, metavar="N", help="the pull request, if any")
    ci.add_argument("--pr-title", default="", metavar="TITLE", help="its title")
    ci.add_argument("--pr-url", default="", metavar="URL", help="its web page")

    changed = commands.add_parser(
        "changed",
        help="list the experiments a change touches",
        description="List the experiments the change from the merge base of BASE and HEAD to "
        "HEAD touches: scenario or README edits, edits in the build context of an image a role "
        "uses, edits to declared inputs, changes of nodes a role names in testbed.yaml. "
        "Deleted and renamed experiments are listed as such.",
    )
    changed.add_argument("--base", required=True, metavar="REV", help="e.g. origin/main")
    changed.add_argument("--head", default="HEAD", metavar="REV", help="default HEAD")
    changed.add_argument("--json", action="store_true", help="print JSON")

    watch = commands.add_parser(
        "watch",
        help="poll a git remote and run what each new branch head touches",
        description="Without GitHub: poll a git remote (any forge, or a bare repository) and, "
        "for each branch matching PATTERN whose head is new, do what 'radiops ci' does "
        "against BASE. Handled heads are remembered across restarts.",
    )
    watch.add_argument("--remote", required=True, metavar="URL", help="the git remote")
    watch.add_argument(
        "--branches", default="*", metavar="PATTERN", help="branches to watch (glob, default *)"
    )
    watch.add_argument("--base", default="main", metavar="BRANCH", help="the target branch")
    watch.add_argument(
        "--workdir", type=Path, metavar="DIR", help="clone and state (default: cache)"
    )
    watch.add_argument("--interval", type=float, default=30.0, metavar="SECONDS")
    watch.add_argument("--once", action="store_true", help="one pass, then exit")
    watch.add_argument("--no-push", action="store_true", help="commit results but do not push")
    watch.add_argument("--testbed", type=Path, metavar="FILE", help="inventory to use")
    return parser


def _run(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    cwd = Path.cwd()
    if args.command == "validate":
        from runner.commands.validate import validate

        summary = validate(args.paths, cwd=cwd)
        print(
            f"valid: {summary.experiments} experiment(s), {summary.images} image directory(ies), "
            f"{summary.manifests} manifest(s), testbed: {summary.testbed}"
        )
        return 0
    if args.command == "new":
        from runner.commands.new import new

        created = new(args.name, cwd=cwd, image=args.image, title=args.title)
        for path in created.files:
            print(f"created {path}")
        print(f"next: edit {created.scenario}, then run 'radiops validate {created.directory}'")
        return 0
    if args.command == "run":
        return _run_command(args, cwd)
    if args.command == "images":
        from runner.commands import images

        if args.action == "build":
            images.images_build(args.paths, cwd=cwd, engine=args.engine)
        elif args.action == "push":
            images.images_push(args.paths, cwd=cwd, testbed_file=args.testbed, engine=args.engine)
        else:
            images.images_lock(cwd=cwd, check=args.check)
        return 0
    if args.command == "ci":
        return _ci_command(args, cwd)
    if args.command == "changed":
        from runner.commands.changed import changed, render

        print(render(changed(cwd=cwd, base=args.base, head=args.head), as_json=args.json))
        return 0
    if args.command == "watch":
        return _watch_command(args)
    if args.command == "attest":
        from runner.commands.attest import attest, dumps

        print(dumps(attest(args.run, cwd=cwd)))
        return 0
    if args.command == "pin":
        from runner.commands.pin import pin

        changes = pin(args.paths, cwd=cwd, testbed_file=args.testbed)
        for change in changes:
            print(change)
        print(f"pinned {len(changes)} reference(s)" if changes else "every reference is pinned")
        return 0
    raise AssertionError(f"unhandled command {args.command}")


def _ci_command(args: argparse.Namespace, cwd: Path) -> int:
    from runner.commands.ci import ci
    from runner.manifest import Trigger
    from runner.publish import Identity
    from runner.report import LineReporter

    pull_request = _pull_request(args)
    reporter = LineReporter()
    with _cancellable() as (cancel, received):
        report = ci(
            cwd=cwd,
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
    pull_request: PullRequest | None, reporter: LineReporter
) -> Callable[[str], None] | None:
    """Keeps the pull request's one comment current, when a token allows it; else None.

    A comment that cannot be written is said in the log: it never fails the job.
    """
    from runner.comment import DEFAULT_API_URL, GitHub, upsert_comment

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
    from runner.manifest import PullRequest

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


def _watch_command(args: argparse.Namespace) -> int:
    from runner.commands.watch import default_workdir, watch
    from runner.report import LineReporter

    with _cancellable() as (cancel, received):
        handled = watch(
            remote_url=args.remote,
            branches=args.branches,
            base=args.base,
            workdir=args.workdir or default_workdir(args.remote),
            reporter=LineReporter(),
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


@contextlib.contextmanager
def _cancellable() -> Iterator[tuple[threading.Event, list[int]]]:
    """SIGINT and SIGTERM set an event instead of raising: the runs stop and record."""
    cancel = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        cancel.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield cancel, received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_command(args: argparse.Namespace, cwd: Path) -> int:
    from runner.commands.run import run
    from runner.report import LineReporter

    with _cancellable() as (cancel, received):
        results = run(
            args.experiment,
            cwd=cwd,
            sets=args.sets,
            testbed_file=args.testbed,
            node_names=args.nodes,
            strict=args.strict,
            reporter=LineReporter(),
            cancel=cancel,
            wait_s=args.wait,
        )
    for result in results:
        print(f"{result.run_id} {result.status} {os.path.relpath(result.run_dir, cwd)}")
    failed = [r for r in results if r.status != "succeeded"]
    for result in failed:
        print(f"radiops: run {result.run_id} {result.status}: {result.reason}", file=sys.stderr)
    if received:
        return 128 + received[0]
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run radiops; returns the exit status (the console script exits with it)."""
    try:
        return _run(sys.argv[1:] if argv is None else argv)
    except ProblemsFound as problems:
        for problem in problems.problems:
            print(problem, file=sys.stderr)
        files = len({p.file for p in problems.problems})
        print(
            f"{_count(len(problems.problems), 'problem')} in {_count(files, 'file')}",
            file=sys.stderr,
        )
        return problems.exit_code
    except FatalError as error:
        print(f"radiops: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("radiops: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:  # the last line of defence: no traceback for users
        log = _write_crash_log()
        print(
            f"radiops {__version__}: internal error ({sys.exc_info()[1]!r}). This is a bug in "
            f"radiops, not in your files; the traceback is in {log}. Please report it with "
            "that file.",
            file=sys.stderr,
        )
        return EXIT_BUG


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _write_crash_log() -> str:
    folder = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "radiops"
    text = f"radiops {__version__}\nargv: {sys.argv!r}\n\n{traceback.format_exc()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
        path.write_text(text, encoding="utf-8")
    except OSError:
        handle, name = tempfile.mkstemp(prefix="radiops-crash-", suffix=".log")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        return name
    return str(path)
