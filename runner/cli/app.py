"""The ``radiops`` command line. Only ``main`` turns errors into exit codes."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runner import __version__
from runner.cli.parser import build_parser
from runner.cli.signals import cancellable
from runner.model.errors import FatalError, UsageError
from runner.model.problems import ProblemsFound

if TYPE_CHECKING:
    from runner.model.manifest import PullRequest
    from runner.model.report import LineReporter

EXIT_INTERRUPTED = 130
EXIT_BUG = 70  # EX_SOFTWARE


def _run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    cwd = Path.cwd()
    if args.command == "validate":
        from runner.cli.commands.validate import validate

        summary = validate(args.paths, cwd=cwd)
        print(
            f"valid: {summary.experiments} experiment(s), {summary.images} image directory(ies), "
            f"{summary.manifests} manifest(s), testbed: {summary.testbed}"
        )
        return 0
    if args.command == "new":
        from runner.cli.commands.new import new

        created = new(args.name, cwd=cwd, image=args.image, title=args.title)
        for path in created.files:
            print(f"created {path}")
        print(f"next: edit {created.scenario}, then run 'radiops validate {created.directory}'")
        return 0
    if args.command == "run":
        return _run_command(args, cwd)
    if args.command == "reproduce":
        return _reproduce_command(args, cwd)
    if args.command == "diff":
        from runner.cli.commands.diff import diff, render_json
        from runner.model.run_diff_render import render_text

        found = diff(args.run_a, args.run_b, cwd=cwd)
        print(render_json(found) if args.json else render_text(found), end="")
        return 0
    if args.command == "recover":
        from runner.cli.commands.recover import recover_runs
        from runner.model.report import LineReporter

        done, left = recover_runs(cwd=cwd, testbed_file=args.testbed, reporter=LineReporter())
        for result in done:
            print(f"{result.run_id} {result.status} {os.path.relpath(result.run_dir, cwd)}")
        for skipped in left:
            print(f"left {os.path.relpath(skipped.run_dir, cwd)}: {skipped.reason}")
        if not done and not left:
            print("nothing to recover")
        return 0
    if args.command == "bundle":
        from runner.cli.commands.reproduce import bundle
        from runner.model.report import LineReporter

        written = bundle(args.run_id, cwd=cwd, output=args.output, reporter=LineReporter())
        print(f"wrote {os.path.relpath(written, cwd)}")
        return 0
    if args.command == "images":
        from runner.cli.commands import images

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
        from runner.cli.commands.changed import changed, render

        print(render(changed(cwd=cwd, base=args.base, head=args.head), as_json=args.json))
        return 0
    if args.command == "testbed":
        from runner.cli.commands.probe import probe

        probed = probe(args.nodes, cwd=cwd, testbed_file=args.testbed, max_age_s=args.max_age)
        for item in probed:
            note = " (cached)" if item.cached else ""
            print(f"{item.node.name}: {item.result.describe()}{note}")
        problems = [problem for item in probed for problem in item.problems]
        for problem in problems:
            print(f"radiops: {problem}", file=sys.stderr)
        return 1 if problems else 0
    if args.command == "watch":
        return _watch_command(args)
    if args.command == "attest":
        from runner.cli.commands.attest import attest, dumps

        print(dumps(attest(args.run, cwd=cwd)))
        return 0
    if args.command == "site":
        from runner.cli.commands.site import site_build, site_serve

        if args.action == "build":
            print(f"built {site_build(cwd=cwd, site_dir=args.site_dir)}")
        else:
            site_serve(cwd=cwd, dev_addr=args.dev_addr)
        return 0
    if args.command == "pin":
        from runner.cli.commands.pin import pin

        changes = pin(args.paths, cwd=cwd, testbed_file=args.testbed)
        for change in changes:
            print(change)
        print(f"pinned {len(changes)} reference(s)" if changes else "every reference is pinned")
        return 0
    raise AssertionError(f"unhandled command {args.command}")


def _ci_command(args: argparse.Namespace, cwd: Path) -> int:
    from runner.cli.commands.ci import ci
    from runner.gitops.publish import Identity
    from runner.model.manifest import Trigger
    from runner.model.report import LineReporter

    pull_request = _pull_request(args)
    reporter = LineReporter()
    with cancellable() as (cancel, received):
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
    from runner.gitops.comment import DEFAULT_API_URL, GitHub, upsert_comment

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
    from runner.model.manifest import PullRequest

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
    from runner.cli.commands.watch import default_workdir, watch
    from runner.model.report import LineReporter

    with cancellable() as (cancel, received):
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


def _run_command(args: argparse.Namespace, cwd: Path) -> int:
    from runner.cli.commands.run import run
    from runner.model.report import LineReporter

    with cancellable() as (cancel, received):
        results = run(
            args.experiment,
            cwd=cwd,
            sets=args.sets,
            repeat=args.repeat,
            testbed_file=args.testbed,
            node_names=args.nodes,
            strict=args.strict,
            reporter=LineReporter(),
            cancel=cancel,
            wait_s=args.wait,
            probe_max_age_s=args.probe_max_age,
        )
    for result in results:
        print(f"{result.run_id} {result.status} {os.path.relpath(result.run_dir, cwd)}")
    failed = [r for r in results if r.status != "succeeded"]
    for result in failed:
        print(f"radiops: run {result.run_id} {result.status}: {result.reason}", file=sys.stderr)
    if received:
        return 128 + received[0]
    return 1 if failed else 0


def _reproduce_command(args: argparse.Namespace, cwd: Path) -> int:
    from runner.cli.commands.reproduce import reproduce, reproduce_bundle
    from runner.model.report import LineReporter

    if args.bundle is not None and (args.experiment is not None or args.run_id is not None):
        raise UsageError("give either --bundle FILE or EXPERIMENT --run RUN_ID, not both")
    if args.bundle is None and (args.experiment is None or args.run_id is None):
        raise UsageError("give EXPERIMENT --run RUN_ID (e.g. experiments/hello --run ...)")
    with cancellable() as (cancel, received):
        if args.bundle is not None:
            found = reproduce_bundle(
                args.bundle,
                cwd=cwd,
                testbed_file=args.testbed,
                reporter=LineReporter(),
                cancel=cancel,
            )
        else:
            found = reproduce(
                str(args.experiment),
                args.run_id,
                cwd=cwd,
                testbed_file=args.testbed,
                reporter=LineReporter(),
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
