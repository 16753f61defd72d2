"""``radiops shell EXPERIMENT ROLE``: a shell in the role's container on a node, as a run
would start it, until the shell ends or its time is up."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from runner.cli.command import Command, Context
from runner.cli.signals import cancellable
from runner.engine.container_spec import DEFAULT_SHELL
from runner.engine.node import NodeContainer
from runner.engine.terminal import attach_terminal
from runner.gitops.gitinfo import code_info, current_user
from runner.model.errors import UsageError
from runner.model.units import format_duration, parse_duration
from runner.pipeline.experiment_run import RunOptions
from runner.pipeline.session import DEFAULT_LIMIT_S, ShellRequest, run_shell


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "experiment", type=Path, metavar="EXPERIMENT", help="e.g. experiments/tone-link"
    )
    parser.add_argument("role", metavar="ROLE", help="the role whose container to open, e.g. rx")
    parser.add_argument("--node", metavar="NAME", help="open it on this node")
    parser.add_argument(
        "--for",
        dest="limit",
        default=format_duration(DEFAULT_LIMIT_S),
        metavar="DURATION",
        help="end the session after this long (e.g. 90s, 30m, 2h; default %(default)s)",
    )
    parser.add_argument(
        "--shell",
        default=DEFAULT_SHELL,
        metavar="PATH",
        help=f"the program to start in the container (default {DEFAULT_SHELL})",
    )
    parser.add_argument("--testbed", type=Path, metavar="FILE", help="use this inventory instead")
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="how long to wait for a busy node (default 0: say who holds it)",
    )


def _limit(text: str) -> float:
    try:
        limit = parse_duration(text)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--for {text}: {exc} (e.g. --for 90s, --for 30m)") from None
    if limit <= 0:
        raise UsageError(f"--for {text}: give a positive duration (e.g. --for 30m)")
    return limit


def _terminal() -> tuple[int, int]:
    """The terminal's input and output descriptors; UsageError when either is not a terminal."""
    try:
        fds = sys.stdin.fileno(), sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):  # replaced streams (e.g. in a test harness)
        fds = (-1, -1)
    if not all(fd >= 0 and os.isatty(fd) for fd in fds):
        raise UsageError(
            "radiops shell needs a terminal (its input or output is not one): run it from "
            "a terminal, not from a pipe, a file or CI"
        )
    return fds[0], fds[1]


def _main(args: argparse.Namespace, context: Context) -> int:
    request = ShellRequest(
        target=args.experiment, role=args.role, limit_s=_limit(args.limit), shell=args.shell
    )
    stdin_fd, stdout_fd = _terminal()
    with cancellable() as (cancel, received):

        def attach(container: NodeContainer, limit_s: float) -> str:
            return attach_terminal(
                container, stdin_fd=stdin_fd, stdout_fd=stdout_fd, limit_s=limit_s, cancel=cancel
            )

        session = run_shell(
            request,
            RunOptions(
                provenance=code_info,
                actor=current_user(),
                testbed_file=args.testbed,
                node_names=(args.node,) if args.node else (),
                wait_s=args.wait,
                live_logs=False,
            ),
            attach=attach,
            cwd=context.cwd,
            reporter=context.reporter,
            cancel=cancel,
        )
    print(f"{session.id} {session.ended_by} {os.path.relpath(session.record, context.cwd)}")
    if received:
        return 128 + received[0]
    return 0


COMMAND = Command(
    description="Open a shell in ROLE's container of EXPERIMENT on a node of the testbed: the "
    "node is reserved as a run would reserve it, and the container has the same hardening, "
    "radio (or simulated radio and channel emulator) and environment. The node is freed when "
    "the shell exits or --for is over. The session is recorded under .radiops/sessions/, "
    "never published as a run.",
    add_arguments=_arguments,
    main=_main,
)
