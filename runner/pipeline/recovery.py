"""``radiops recover``: finish the runs of a runner that died, from their pending records.

A run whose directory holds ``pending.json`` but no manifest, and whose runner
no longer lives on this host, is finished here: its labelled containers are
found on the testbed's engines, stopped if they still run, their logs and
outputs copied as usual, and the manifest written with exactly one final
state (``cancelled`` when containers had to be stopped, the usual outcome
when all had ended by themselves, ``error`` when none was ever created). Then
the containers and the run's channel emulator and network are removed, which
frees the nodes. Running it again finds nothing more to do.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from runner.engine.artifacts import artifact_store
from runner.engine.container_spec import LABEL_PREFIX
from runner.engine.datasets import LABEL as DATASET_LABEL
from runner.engine.engines import ENGINE_ERRORS
from runner.engine.execute import Ended, Placed, Supervision, remove_all, stop_all
from runner.engine.node import Listed, NodeContainer, NodeEngine
from runner.model.experiment import load_experiment
from runner.model.files import LinkInTheWay, open_folder
from runner.model.manifest import MANIFEST
from runner.model.plan import Instance, RunPlan
from runner.model.repo import run_dir
from runner.model.report import Reporter
from runner.model.testbed import Node
from runner.model.timestamps import parse_timestamp
from runner.pipeline.context import RunContext, RunResult
from runner.pipeline.pending import (
    PENDING,
    PendingDamaged,
    PendingRun,
    RunnerIdentity,
    is_alive,
    read_pending,
    runner_of,
)
from runner.pipeline.runs import record_run

LABEL_RUN = f"{LABEL_PREFIX}run"
LABEL_SESSION = f"{LABEL_PREFIX}session"


@dataclass(frozen=True, kw_only=True)
class Skipped:
    run_dir: Path
    reason: str


def recover(
    repo_root: Path,
    nodes: Sequence[Node],
    clients: Mapping[str, NodeEngine],
    *,
    reporter: Reporter,
) -> tuple[list[RunResult], list[Skipped]]:
    """Finish every orphaned run of the repository; what was recorded, and what was left."""
    recorded: list[RunResult] = []
    skipped: list[Skipped] = []
    for path in sorted(repo_root.glob(f"experiments/*/runs/*/{PENDING}")):
        run_dir = path.parent
        try:  # a committed link must not have the recovery write (or delete) elsewhere
            os.close(
                open_folder(repo_root, run_dir.relative_to(repo_root).as_posix(), create=False)
            )
        except LinkInTheWay as exc:
            skipped.append(Skipped(run_dir=run_dir, reason=str(exc)))
            continue
        if (run_dir / MANIFEST).exists():  # finished; the runner died before tidying up
            path.unlink(missing_ok=True)
            continue
        try:
            record = read_pending(path)
        except PendingDamaged as exc:
            skipped.append(Skipped(run_dir=run_dir, reason=f"{PENDING} is damaged: {exc}"))
            continue
        alive = is_alive(record.runner)
        if alive is not False:
            why = "its runner still runs" if alive else "its runner ran on another host"
            skipped.append(Skipped(run_dir=run_dir, reason=why))
            continue
        missing = sorted(set(record.engines) - set(clients))
        if missing:
            reason = f"it ran on engines this testbed does not reach: {', '.join(missing)}"
            skipped.append(Skipped(run_dir=run_dir, reason=reason))
            continue
        recorded.append(_finish(repo_root, run_dir, record, nodes, clients, reporter))
    _sweep(repo_root, clients, reporter)
    _sweep_sessions(clients, reporter)
    _sweep_fills(clients, reporter)
    return recorded, skipped


def _sweep_sessions(clients: Mapping[str, NodeEngine], reporter: Reporter) -> None:
    """Remove what interactive sessions that are over left on the engines: the shell's
    container (which holds its node) and, for a simulated radio, the channel emulator and
    its network.

    A session is over when its shell ended or its time is up (its ``radiops shell`` was
    killed, even between creating the container and starting it). One within its time
    whose shell still runs or was just created is left alone: its ``radiops shell`` may
    still run.
    """
    now = datetime.now(UTC)
    found = list(_labelled(clients, LABEL_SESSION, reporter))
    over = {
        (url, container.labels.get(LABEL_SESSION, "?"))
        for url, container in found
        if _session_over(container, now)
    }
    for url, container in found:
        session = container.labels.get(LABEL_SESSION, "?")
        if (url, session) in over:
            _remove(clients[url], container, f"session {session}, over", reporter)
    for url, session in sorted(over):
        try:
            clients[url].remove_networks(f"{LABEL_SESSION}={session}")
        except ENGINE_ERRORS as exc:
            reporter.line(f"{url}: could not remove the network of session {session}: {exc}")


def _session_over(container: Listed, now: datetime) -> bool:
    """Its time is up, or it is the session's shell and that has ended."""
    until = parse_timestamp(container.labels.get(f"{LABEL_PREFIX}until", ""))
    if until is not None and until < now:
        return True
    shell = f"{LABEL_PREFIX}role" in container.labels  # not its channel emulator
    return shell and container.status in ("exited", "dead")


def _sweep_fills(clients: Mapping[str, NodeEngine], reporter: Reporter) -> None:
    """Remove the helper containers of dataset fills whose runner died mid-fill.

    The volume it was filling has no completion mark, so the next run that needs it
    fills it again (runner/engine/datasets.py). A helper of a runner that lives, or
    ran on another host, or that names none, is left alone.
    """
    for url, container in _labelled(clients, DATASET_LABEL, reporter):
        runner = runner_of(container.labels)
        if runner is None or is_alive(runner) is not False:
            continue
        left_by = f"an input's fill whose runner stopped (pid {runner.pid} on {runner.host})"
        _remove(clients[url], container, left_by, reporter)


def _labelled(
    clients: Mapping[str, NodeEngine], label: str, reporter: Reporter
) -> Iterator[tuple[str, Listed]]:
    """Every container with ``label`` on every engine that answers, with its engine's URL
    (as the engine lists it: one busy with another runner's copy does not hold this up)."""
    for url, client in clients.items():
        try:
            found = client.listed(label)
        except ENGINE_ERRORS as exc:
            reporter.line(f"{url}: cannot list containers: {exc}")
            continue
        for container in found:
            yield url, container


def _remove(client: NodeEngine, container: Listed, left_by: str, reporter: Reporter) -> None:
    try:
        client.get(container.id).remove(force=True, v=True)  # v: its anonymous volumes only
        reporter.line(f"{client.url}: removed {container.name}, left by {left_by}")
    except ENGINE_ERRORS as exc:
        reporter.line(f"{client.url}: could not remove {container.name}: {exc}")


def _sweep(repo_root: Path, clients: Mapping[str, NodeEngine], reporter: Reporter) -> None:
    """Remove containers left by finished runs of this repository (an engine that was away).

    A run with a manifest is over; a container of it still on an engine (its
    removal failed while the engine was unreachable) would hold its node.
    """
    for url, container in _labelled(clients, LABEL_RUN, reporter):
        experiment = container.labels.get(f"{LABEL_PREFIX}experiment", "")
        run_id = container.labels.get(LABEL_RUN, "")
        if "/" in experiment or "/" in run_id or not experiment or not run_id:
            continue
        if not (run_dir(repo_root, experiment, run_id) / MANIFEST).is_file():
            continue
        _remove(clients[url], container, f"finished run {run_id}", reporter)


def _finish(
    repo_root: Path,
    run_dir: Path,
    record: PendingRun,
    nodes: Sequence[Node],
    clients: Mapping[str, NodeEngine],
    reporter: Reporter,
) -> RunResult:
    run_id = record.run_id
    experiment = load_experiment(repo_root / record.scenario_path)
    plan = RunPlan(
        experiment=experiment,
        matrix_point=record.matrix_point,
        parameters=record.parameters,
        overrides=record.overrides,
        seeds=record.seeds,
        repetition=record.repetition,
    )
    placed, extras = _found(record, run_id, nodes, clients)
    state = _ended(placed, record.runner)
    error = None if placed else "its runner stopped before any container was created"
    try:
        result = record_run(
            plan,
            _context(record, repo_root, nodes, clients, reporter),
            run_id,
            run_dir,
            record.queued,
            placed,
            state,
            error,
            None,
        )
    finally:
        for problem in remove_all(placed) + _remove_medium(extras, clients, record, run_id):
            reporter.line(f"{experiment.name} {run_id}: could not remove {problem}")
    reporter.line(f"{experiment.name} {run_id}: recovered ({result.status})")
    return result


def _found(
    record: PendingRun,
    run_id: str,
    nodes: Sequence[Node],
    clients: Mapping[str, NodeEngine],
) -> tuple[list[Placed], list[tuple[NodeEngine, NodeContainer]]]:
    """The run's role containers on its engines, and the others (its channel emulator)."""
    by_name = {node.name: node for node in nodes}
    placed: list[Placed] = []
    extras: list[tuple[NodeEngine, NodeContainer]] = []
    for url in record.engines:
        client = clients[url]
        for container in client.labelled(f"{LABEL_RUN}={run_id}"):
            labels = container.labels
            if f"{LABEL_PREFIX}role" not in labels:
                extras.append((client, container))  # the channel emulator
                continue
            node_name = labels.get(f"{LABEL_PREFIX}node", "")
            placed.append(
                Placed(
                    instance=Instance(
                        role=labels[f"{LABEL_PREFIX}role"],
                        index=int(labels[f"{LABEL_PREFIX}index"]),
                    ),
                    node=by_name.get(node_name) or Node(name=node_name, engine=url),
                    client=client,
                    container=container,
                    image_id=str(container.attrs.get("Image", "")),
                    command=tuple(
                        (container.attrs["Config"].get("Entrypoint") or [])
                        + (container.attrs["Config"].get("Cmd") or [])
                    ),
                )
            )
    return placed, extras


def _ended(placed: list[Placed], runner: RunnerIdentity) -> Supervision:
    """How the containers ended; those still running are stopped (the run is cancelled)."""
    state = Supervision()
    for item in placed:
        item.container.reload()
        status = item.container.status
        started = item.container.attrs["State"].get("StartedAt", "")
        if status in ("exited", "dead") and not started.startswith("0001"):
            state.ended[item.instance] = Ended(status="exited")
        moment = parse_timestamp(started)
        if moment and (state.started is None or moment < state.started):
            state.started = moment
    if any(item.instance not in state.ended for item in placed):
        state.cancelled = (
            f"its runner (pid {runner.pid} on {runner.host}) stopped; "
            "radiops recover stopped the containers"
        )
        stop_all(placed, state, reason=state.cancelled)
    state.finished = state.finished or max(
        (
            m
            for item in placed
            if (m := parse_timestamp(item.container.attrs["State"].get("FinishedAt", "")))
        ),
        default=None,
    )
    return state


def _context(
    record: PendingRun,
    repo_root: Path,
    nodes: Sequence[Node],
    clients: Mapping[str, NodeEngine],
    reporter: Reporter,
) -> RunContext:
    return RunContext(
        repo_root=repo_root,
        scenario_path=record.scenario_path,
        scenario_sha256=record.scenario_sha256,
        code=record.code,
        actor=record.actor,
        trigger=record.trigger,
        nodes=nodes,
        clients=clients,
        engines=record.engines,
        images={},
        image_records=list(record.images),
        inputs=record.inputs,
        store=artifact_store(Path(record.store), repo_root),
        inline_max=record.inline_max,
        capture_max=record.capture_max,
        testbed_name=record.testbed_name,
        testbed_file=record.testbed_file,
        reporter=reporter,
        cancel=threading.Event(),
        wait_s=0.0,
    )


def _remove_medium(
    extras: list[tuple[NodeEngine, NodeContainer]],
    clients: Mapping[str, NodeEngine],
    record: PendingRun,
    run_id: str,
) -> list[str]:
    """Remove the run's channel emulator and network; what could not be removed."""
    problems: list[str] = []
    for _client, container in extras:
        try:
            container.remove(force=True, v=True)
        except ENGINE_ERRORS as exc:
            problems.append(f"container {container.name}: {exc}")
    for url in record.engines:
        try:
            clients[url].remove_networks(f"{LABEL_RUN}={run_id}")
        except ENGINE_ERRORS as exc:
            problems.append(f"network of run {run_id} on {url}: {exc}")
    return problems
