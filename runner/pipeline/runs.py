"""One run, start to end: reserve nodes, execute, capture, write the manifest, release.

Whatever happens (a failing container, a timeout, Ctrl-C, SIGTERM, an engine
error), the run ends with its containers removed and a manifest that says
how it ended: a run is never silently lost.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.engine.channel import ChannelNetwork
from runner.engine.channel_reach import unreached_warning
from runner.engine.engine_kind import PODMAN
from runner.engine.engines import ENGINE_ERRORS, engine_unreachable
from runner.engine.execute import (
    Cancelled,
    NodeBusy,
    Placed,
    Supervision,
    create_all,
    follow_logs,
    remove_all,
    stop_all,
    supervise,
)
from runner.engine.medium import EmulatorImage, channel_config, manifest_entry, simulated_radios
from runner.model.errors import EnvironmentProblem, FatalError
from runner.model.files import open_folder
from runner.model.manifest import write_manifest
from runner.model.plan import Instance, RunPlan, new_run_id
from runner.model.radio_report import DeviceReport
from runner.model.repo import RUNS
from runner.model.schedule import place
from runner.model.sigmf import annotate
from runner.model.testbed import Node
from runner.pipeline.collect import Collected, collect, merge_metrics, read_output
from runner.pipeline.context import NodeBook, RunContext, RunResult
from runner.pipeline.manifest_builder import ManifestInputs, build_manifest, decide_outcome
from runner.pipeline.pending import PENDING, pending_record, write_pending

RETRY_S = 1.0
LOG_DRAIN_S = 2.0


def execute_run(plan: RunPlan, context: RunContext, book: NodeBook) -> RunResult:
    queued = datetime.now(UTC)
    run_id, run_dir = _new_run_dir(plan, context.repo_root)
    say = context.reporter.line
    point = ", ".join(f"{k}={v}" for k, v in plan.matrix_point.items())
    if plan.repetition is not None:
        point += (
            f"{', ' if point else ''}repetition {plan.repetition.index} of {plan.repetition.of}"
        )
    say(f"{plan.experiment.name} {run_id}: queued" + (f" ({point})" if point else ""))
    placed: list[Placed] = []
    medium: Medium | None = None
    state = Supervision()
    error: str | None = None
    seed = plan.seeds.get("channel", secrets.randbelow(2**31))
    write_pending(run_dir, pending_record(plan, context, run_id, queued, seed))
    try:
        try:
            placed, medium = reserve(plan, run_id, context, book, seed=seed)
            nodes = ", ".join(f"{p.instance.key}@{p.node.name}" for p in placed)
            say(f"{plan.experiment.name} {run_id}: running on {nodes}")
            followers = follow_logs(placed, say) if context.live_logs else []
            supervise(
                placed,
                state,
                duration_s=plan.experiment.duration_s,
                timeout_s=plan.experiment.timeout_s,
                on_event=lambda text: say(f"{plan.experiment.name} {run_id}: {text}"),
                cancel=context.cancel,
            )
            for follower in followers:  # the last lines, before the summary
                follower.join(timeout=LOG_DRAIN_S)
        except Cancelled as stop:
            state.cancelled = str(stop)
            stop_all(placed, state, reason=str(stop))
        except (FatalError, *ENGINE_ERRORS, OSError) as exc:
            error = str(exc)
            stop_all(placed, state, reason=error)
        return record_run(plan, context, run_id, run_dir, queued, placed, state, error, medium)
    finally:
        if medium is not None:
            medium.network.close()  # idempotent: normally _record closed it
        failures = remove_all(placed)
        with book.lock:
            book.held -= {p.node.name for p in placed}
        for failure in failures:
            say(f"{plan.experiment.name} {run_id}: could not remove {failure}")


def _new_run_dir(plan: RunPlan, repo_root: Path) -> tuple[str, Path]:
    # from the repository down, no link is followed: a committed runs -> /anywhere
    # must not carry the run's results out of the checkout
    runs = plan.experiment.directory.relative_to(repo_root) / RUNS
    runs_fd = open_folder(repo_root, runs.as_posix())
    try:
        while True:
            run_id = new_run_id()
            try:
                os.mkdir(run_id, 0o755, dir_fd=runs_fd)  # exclusive: runners never share one
            except FileExistsError:
                continue
            return run_id, repo_root / runs / run_id
    finally:
        os.close(runs_fd)


@dataclass(frozen=True, kw_only=True)
class Medium:
    """The run's channel emulator, for its simulated radios."""

    network: ChannelNetwork
    image: EmulatorImage
    podman: bool = False


def reserve(
    plan: RunPlan,
    run_id: str,
    context: RunContext,
    book: NodeBook,
    *,
    seed: int,
    adapt: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    medium_labels: Mapping[str, str] | None = None,
) -> tuple[list[Placed], Medium | None]:
    """Hold nodes for ``plan`` and create its containers (and its channel emulator), waiting up
    to ``context.wait_s`` for busy nodes; ``adapt`` as in ``execute.create_all``;
    ``medium_labels`` go on the channel emulator and its network too."""
    deadline = time.monotonic() + context.wait_s
    refused: set[str] = set()
    announced: set[str] = set()
    holders: dict[str, str] = {}  # node -> who held it when last tried
    while True:
        if context.cancel.is_set():
            raise Cancelled("the runner was asked to stop while waiting for nodes")
        with book.lock:
            placement = place(plan, context.nodes, busy=book.held | refused)
            if placement is not None:
                book.held |= {node.name for node in placement.values()}
        if placement is not None:
            medium: Medium | None = None
            try:
                medium = _open_medium(plan, run_id, placement, context, seed, medium_labels)
                placed = create_all(
                    plan,
                    run_id,
                    placement,
                    context.clients,
                    context.images,
                    medium.network.endpoints if medium else None,
                    adapt,
                )
                return placed, medium
            except BaseException as exc:
                if medium is not None:
                    medium.network.close()
                with book.lock:
                    book.held -= {node.name for node in placement.values()}
                if not isinstance(exc, NodeBusy):
                    raise
                busy = exc
            refused |= busy.nodes
            holders.update(busy.holders)
            if busy.nodes - announced:
                context.reporter.line(f"{plan.experiment.name} {run_id}: waiting: {busy}")
                if context.on_wait is not None:
                    context.on_wait(plan.experiment.name, frozenset(busy.nodes))
                announced |= busy.nodes
            continue
        if time.monotonic() > deadline:
            taken = sorted(refused | book.held)
            raise EnvironmentProblem(
                f"no free nodes for {plan.experiment.name} within {context.wait_s:.0f}s "
                f"(busy: {'; '.join(f'{n} {holders[n]}' if n in holders else n for n in taken)})"
                if taken
                else f"no free nodes for {plan.experiment.name} within {context.wait_s:.0f}s"
            )
        time.sleep(RETRY_S)
        refused.clear()  # try the engines again: another runner may have finished


def _open_medium(
    plan: RunPlan,
    run_id: str,
    placement: Mapping[Instance, Node],
    context: RunContext,
    seed: int,
    labels: Mapping[str, str] | None = None,
) -> Medium | None:
    """Start the channel emulator of a run with simulated radios (None without any)."""
    config = channel_config(plan, placement, context.channel, seed=seed)
    if config is None:
        return None
    engine = simulated_radios(plan, placement)[0].node.engine  # place() keeps them on one
    image = context.emulator_images.get(engine)
    if image is None:
        raise EnvironmentProblem(f"the channel emulator's image was not prepared on {engine}")
    podman = context.engines.get(engine, {}).get("kind") == PODMAN
    network = context.clients[engine].channel(
        run_id=run_id,
        image=image.image_id,
        config=config,
        labels={"org.radiops.experiment": plan.experiment.name, **(labels or {})},
        reach_check=podman,  # a firewall may drop its networks' traffic (channel_reach)
    )
    network.open()
    context.reporter.line(
        f"{plan.experiment.name} {run_id}: channel emulator up: {len(config.tx)} TX, "
        f"{len(config.rx)} RX, {config.sample_rate:g} samples/s, noise floor "
        f"{config.noise_floor_dbfs} dBFS" + ("; its network reaches it (checked)" if podman else "")
    )
    return Medium(network=network, image=image, podman=podman)


def _close_medium(medium: Medium | None) -> tuple[list[str], dict[str, Any] | None]:
    """Close the run's channel emulator: what went wrong, and its manifest entry."""
    if medium is None:
        return [], None
    # every container has exited: the medium is no longer needed
    network = medium.network
    warnings = [f"channel emulator: {problem}" for problem in network.close()]
    config, log = network.config, network.log
    unreached = unreached_warning(config.tx, config.rx, log, podman=medium.podman)
    if unreached is not None:
        warnings.append(f"channel emulator: {unreached}")
    return warnings, manifest_entry(config, medium.image, log)


def _write_record(run_dir: Path, manifest: dict[str, Any], warnings: list[str]) -> None:
    if warnings:
        manifest["warnings"] = warnings
    write_manifest(run_dir, manifest)
    (run_dir / PENDING).unlink(missing_ok=True)


@dataclass(kw_only=True)
class _Gathered:
    """What every container of a run handed back."""

    outputs: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    written: dict[Instance, dict[str, float]] = field(default_factory=dict)  # metrics
    devices: dict[Instance, DeviceReport] = field(default_factory=dict)
    error: str | None = None


def _gather(
    plan: RunPlan, context: RunContext, run_dir: Path, placed: list[Placed], error: str | None
) -> _Gathered:
    gathered = _Gathered(error=error)
    # each container's copies wait mostly on its engine: ask for all at once
    with ThreadPoolExecutor(max_workers=max(1, len(placed)), thread_name_prefix="collect") as pool:
        futures = [pool.submit(_collect_one, item, plan, run_dir, context) for item in placed]
        results = [future.result() for future in futures]  # in the containers' order
    for item, found in zip(placed, results, strict=True):
        if not isinstance(found, Collected):
            # what could not be copied is said in the manifest; the manifest is always written
            gathered.warnings.append(f"{item.instance.key}: results not copied: {found}")
            if engine_unreachable(found) and gathered.error is None:
                # the engine went away (a stopping engine also ends its containers):
                # what the containers did is unknown, so the run is an error, not a failure
                gathered.error = (
                    f"node {item.node.name}: its engine stopped answering before the "
                    f"results of {item.instance.key} were copied: {found}"
                )
            continue
        gathered.outputs += found.outputs
        gathered.logs += found.logs
        gathered.warnings += found.warnings
        if found.metrics is not None:
            gathered.written[item.instance] = found.metrics
        if found.device is not None:
            gathered.devices[item.instance] = found.device
    return gathered


def _collect_one(
    item: Placed, plan: RunPlan, run_dir: Path, context: RunContext
) -> Collected | Exception:
    """``collect``, with what stopped it handed back instead of raised (one thread each)."""
    try:
        return collect(item, plan, run_dir, context)
    except (FatalError, *ENGINE_ERRORS, OSError) as exc:
        return exc


def record_run(
    plan: RunPlan,
    context: RunContext,
    run_id: str,
    run_dir: Path,
    queued: datetime,
    placed: list[Placed],
    state: Supervision,
    error: str | None,
    medium: Medium | None,
) -> RunResult:
    # the emulator's stop and the containers' copies are independent: both at once
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="medium") as pool:
        closing = pool.submit(_close_medium, medium)
        gathered = _gather(plan, context, run_dir, placed, error)
        warnings, channel = closing.result()
    warnings += gathered.warnings
    outputs = gathered.outputs
    warnings += annotate(outputs, lambda output: read_output(output, run_dir, context.store))
    if plan.experiment.metrics and placed and not gathered.written:
        warnings.append(f"no container wrote the metrics file {plan.experiment.metrics}")
    outcome = decide_outcome(placed, state, error=gathered.error)
    manifest = build_manifest(
        ManifestInputs(
            run_id=run_id,
            plan=plan,
            scenario_path=context.scenario_path,
            scenario_sha256=context.scenario_sha256,
            code=context.code,
            trigger=context.trigger,
            actor=context.actor,
            images=context.image_records,
            inputs=context.inputs,
            placed=placed,
            engines=context.engines,
            state=state,
            queued=queued,
            outcome=outcome,
            outputs=outputs,
            logs=gathered.logs,
            metrics=merge_metrics(gathered.written),
            testbed_name=context.testbed_name,
            testbed_file=context.testbed_file,
            seeds={
                **seed_parameters(plan.parameters),
                **({"channel": channel["seed"]} if channel else {}),
            },
            probes=context.probes,
            channel=channel,
            devices=gathered.devices,
        )
    )
    _write_record(run_dir, manifest, warnings)
    context.reporter.line(f"{plan.experiment.name} {run_id}: {outcome.status}: {outcome.reason}")
    for warning in warnings:
        context.reporter.line(f"{plan.experiment.name} {run_id}: warning: {warning}")
    return RunResult(
        run_id=run_id,
        status=outcome.status,
        reason=outcome.reason,
        run_dir=run_dir,
        nodes=tuple(p.node.name for p in placed),
    )


def seed_parameters(parameters: Mapping[str, Any]) -> dict[str, int]:
    """The parameters that are seeds (``seed``, ``*_seed``; whole numbers from 0), by name."""
    return {
        name: value
        for name, value in parameters.items()
        if (name == "seed" or name.endswith("_seed"))
        and isinstance(value, int)
        and not isinstance(value, bool)
        and value >= 0
    }
