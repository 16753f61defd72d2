"""The ``radiops`` command line. Only ``main`` turns errors into exit codes."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from runner import __version__
from runner.errors import FatalError
from runner.problems import ProblemsFound

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
    return parser


def _run(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    cwd = Path.cwd()
    if args.command == "validate":
        from runner.commands.validate import validate

        summary = validate(args.paths, cwd=cwd)
        print(
            f"valid: {summary.experiments} experiment(s), {summary.images} image directory(ies), "
            f"testbed: {summary.testbed}"
        )
        return 0
    if args.command == "new":
        from runner.commands.new import new

        created = new(args.name, cwd=cwd, image=args.image, title=args.title)
        for path in created.files:
            print(f"created {path}")
        print(f"next: edit {created.scenario}, then run 'radiops validate {created.directory}'")
        return 0
    raise AssertionError(f"unhandled command {args.command}")


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
