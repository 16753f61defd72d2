"""The ``radiops`` command line. Only ``main`` turns errors into exit codes."""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from runner import __version__
from runner.cli.command import Context
from runner.cli.parser import build_parser, command_of
from runner.model.errors import FatalError
from runner.model.problems import ProblemsFound
from runner.model.report import LineReporter

EXIT_INTERRUPTED = 130
EXIT_BUG = 70  # EX_SOFTWARE


def _run(argv: Sequence[str]) -> int:
    args = build_parser(argv).parse_args(argv)
    return command_of(args).main(args, Context(cwd=Path.cwd(), reporter=LineReporter()))


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
