"""An interactive session (``radiops shell``): one role's container on a node, reserved,
prepared and hardened exactly as a run's, with a terminal attached instead of a program.

The node is freed when the shell ends or its time is up. The session is recorded under
``.radiops/sessions/<id>.json`` (who, when, where, what image, how it ended), never as a
run: a session publishes no result.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runner.engine.container_spec import DEFAULT_SHELL, session_labels, session_options
from runner.engine.execute import Placed, remove_all
from runner.engine.node import NodeContainer
from runner.model.errors import UsageError
from runner.model.experiment import Experiment
from runner.model.files import write_atomic
from runner.model.plan import RunPlan, expand, new_run_id
from runner.model.remotes import without_credentials
from runner.model.repo import STATE
from runner.model.report import Reporter
from runner.model.timestamps import timestamp
from runner.model.units import format_duration
from runner.pipeline.context import NodeBook
from runner.pipeline.experiment_run import RunOptions, prepared
from runner.pipeline.runs import reserve

SESSIONS = Path(STATE) / "sessions"
DEFAULT_LIMIT_S = 30 * 60.0

Attach = Callable[[NodeContainer, float], str]
"""Runs the terminal: the created container and the time limit; says how it ended."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ShellRequest:
    target: Path  # the experiment
    role: str
    limit_s: float = DEFAULT_LIMIT_S
    shell: str = DEFAULT_SHELL


@dataclasses.dataclass(frozen=True, kw_only=True)
class Session:
    """What a session's record holds."""

    id: str
    user: str
    experiment: str
    role: str
    node: str
    engine: str
    image: str
    started: str
    ended: str
    ended_by: str  # exited | time | cancelled | error
    limit_s: float
    record: Path


def shell_plan(experiment: Experiment, role: str) -> RunPlan:
    """The first matrix point of ``experiment`` with only one container: of ``role``."""
    if role not in experiment.roles:
        raise UsageError(
            f"{experiment.name} has no role {role!r} (its roles: {', '.join(experiment.roles)})"
        )
    alone = dataclasses.replace(
        experiment, roles={role: dataclasses.replace(experiment.roles[role], count=1)}
    )
    return dataclasses.replace(expand(experiment, {})[0], experiment=alone)


def run_shell(
    request: ShellRequest,
    options: RunOptions,
    *,
    attach: Attach,
    cwd: Path,
    reporter: Reporter,
    cancel: threading.Event,
) -> Session:
    """Reserve a node for ``request.role``, start its container, ``attach``, free the node."""
    options = dataclasses.replace(
        options, plans_of=lambda experiment: [shell_plan(experiment, request.role)]
    )
    with prepared(request.target, options, cwd=cwd, reporter=reporter, cancel=cancel) as (
        plans,
        context,
    ):
        plan = plans[0]
        session_id = new_run_id()
        started = datetime.now(UTC)
        until = timestamp(started + timedelta(seconds=request.limit_s)) or ""
        adapt = functools.partial(
            session_options,
            session_id=session_id,
            user=options.actor,
            until=until,
            program=request.shell,
        )
        placed, medium = reserve(
            plan,
            session_id,
            context,
            NodeBook(),
            seed=secrets.randbelow(2**31),
            adapt=adapt,
            # a killed shell's emulator and network are the session's, removed with it
            medium_labels=session_labels(session_id=session_id, user=options.actor, until=until),
        )
        ended_by = "error"
        try:
            item = placed[0]
            reporter.line(
                f"{plan.experiment.name}/{request.role}: shell on {item.node.name} for "
                f"{format_duration(request.limit_s)} (session {session_id}); exit the shell "
                "to free the node"
            )
            ended_by = attach(item.container, request.limit_s)
        finally:
            if medium is not None:
                medium.network.close()
            for failure in remove_all(placed):
                reporter.line(f"session {session_id}: could not remove {failure}")
            session = _record(
                context.repo_root,
                session_id,
                options.actor,
                placed,
                started,
                ended_by,
                plan.experiment.name,
                request,
            )
        reporter.line(_farewell(session))
        return session


def _record(
    repo_root: Path,
    session_id: str,
    user: str,
    placed: list[Placed],
    started: datetime,
    ended_by: str,
    experiment: str,
    request: ShellRequest,
) -> Session:
    item = placed[0]
    session = Session(
        id=session_id,
        user=user,
        experiment=experiment,
        role=request.role,
        node=item.node.name,
        engine=without_credentials(item.node.engine),
        image=item.image_id,
        started=timestamp(started) or "",
        ended=timestamp(datetime.now(UTC)) or "",
        ended_by=ended_by,
        limit_s=request.limit_s,
        record=repo_root / SESSIONS / f"{session_id}.json",
    )
    fields: dict[str, Any] = dataclasses.asdict(session)
    del fields["record"]
    write_atomic(session.record, json.dumps(fields, indent=2) + "\n", within=repo_root)
    return session


def _farewell(session: Session) -> str:
    how = {
        "exited": "the shell ended",
        "time": f"its time ({format_duration(session.limit_s)}) was up",
        "cancelled": "radiops was asked to stop",
    }.get(session.ended_by, "of an error")
    return f"session {session.id} ended because {how}; node {session.node} is free again"
