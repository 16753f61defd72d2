"""One run, start to end: reserve nodes, execute, capture, write the manifest, release.

Whatever happens (a failing container, a timeout, Ctrl-C, SIGTERM, an engine
error), the run ends with its containers removed and a manifest that says
how it ended: a run is never silently lost.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import requests.exceptions
from docker.models.containers import Container

from runner.engine.capture import (
    ArtifactStore,
    Capture,
    CaptureBudget,
    CaptureLimits,
    NotReadable,
    capture_tree,
    path_problem,
    read_small_file,
    stream_logs,
)
from runner.engine.channel import ChannelNetwork
from runner.engine.engine_kind import DOCKER, INJECTED
from runner.engine.engines import ENGINE_ERRORS
from runner.engine.execute import (
    OUTPUT_DIR,
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
from runner.engine.probe import ProbeResult
from runner.model.errors import EnvironmentProblem, FatalError
from runner.model.files import open_folder
from runner.model.limits import CAPTURE_MAX_BYTES
from runner.model.manifest import CodeInfo, ImageRecord, Trigger, write_manifest
from runner.model.plan import Instance, RunPlan, new_run_id
from runner.model.radio_report import MAX_BYTES, RADIO_REPORT, BadReport, DeviceReport, parse_report
from runner.model.repo import RUNS
from runner.model.report import Reporter
from runner.model.schedule import place, uses_simulated_radio
from runner.model.sigmf import META_MAX_BYTES, annotate
from runner.model.testbed import ChannelSettings, Node
from runner.model.units import finite_number
from runner.pipeline.manifest_builder import build_manifest, decide_outcome
from runner.pipeline.outputs import output_path
from runner.pipeline.pending import PENDING, write_pending

METRICS_MAX_BYTES = 1 << 20
METRIC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,100}$")  # the manifest's rule, with room
RETRY_S = 1.0
LOG_DRAIN_S = 2.0
MAX_CHANGE_ROOTS = 100


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """What every run of one ``radiops run`` shares."""

    repo_root: Path
    scenario_path: str
    scenario_sha256: str
    code: CodeInfo
    actor: str
    trigger: Trigger
    nodes: Sequence[Node]
    clients: Mapping[str, docker.DockerClient]  # by engine URL
    engines: Mapping[str, Mapping[str, Any]]  # engine facts by engine URL
    images: Mapping[tuple[str, str], str]  # (role, engine URL) -> image ID
    image_records: Sequence[ImageRecord]
    inputs: Sequence[Mapping[str, Any]]
    store: ArtifactStore
    inline_max: int
    capture_max: int = CAPTURE_MAX_BYTES  # bytes of files kept per container
    testbed_name: str
    testbed_file: str | None
    reporter: Reporter
    cancel: threading.Event
    wait_s: float
    live_logs: bool = True
    on_wait: Callable[[str, frozenset[str]], None] | None = None  # experiment, busy nodes
    channel: ChannelSettings = field(default_factory=ChannelSettings)
    emulator_images: Mapping[str, EmulatorImage] = field(default_factory=dict)  # by engine URL
    probes: Mapping[str, ProbeResult] = field(default_factory=dict)  # by node name


@dataclass(frozen=True, kw_only=True)
class RunResult:
    run_id: str
    status: str
    reason: str
    run_dir: Path
    nodes: tuple[str, ...]


@dataclass(kw_only=True)
class NodeBook:
    """Nodes this runner's own runs hold, so its threads do not race each other for them."""

    held: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


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
    medium: _Medium | None = None
    state = Supervision()
    error: str | None = None
    seed = plan.seeds.get("channel", secrets.randbelow(2**31))
    write_pending(run_dir, pending_record(plan, context, run_id, queued, seed))
    try:
        try:
            placed, medium = _reserve(plan, run_id, context, book, seed=seed)
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


def pending_record(
    plan: RunPlan, context: RunContext, run_id: str, queued: datetime, seed: int
) -> dict[str, Any]:
    """What ``radiops recover`` needs to finish this run if the runner dies
    (runner/pipeline/pending.py)."""
    trigger = context.trigger
    return {
        "run_id": run_id,
        "experiment": plan.experiment.name,
        "matrix_point": dict(plan.matrix_point),
        "parameters": dict(plan.parameters),
        "overrides": dict(plan.overrides),
        "seeds": {**plan.seeds, "channel": seed},
        "repetition": plan.repetition.record() if plan.repetition else None,
        "queued": queued.isoformat(),
        "scenario_path": context.scenario_path,
        "scenario_sha256": context.scenario_sha256,
        "code": asdict(context.code),
        "trigger": asdict(trigger),
        "actor": context.actor,
        "images": [asdict(record) for record in context.image_records],
        "inputs": [dict(item) for item in context.inputs],
        "engines": {url: dict(facts) for url, facts in context.engines.items()},
        "testbed_name": context.testbed_name,
        "testbed_file": context.testbed_file,
        "store": str(context.store.root),
        "inline_max": context.inline_max,
        "capture_max": context.capture_max,
    }


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
class _Medium:
    """The run's channel emulator, for its simulated radios."""

    network: ChannelNetwork
    image: EmulatorImage


def _reserve(
    plan: RunPlan, run_id: str, context: RunContext, book: NodeBook, *, seed: int
) -> tuple[list[Placed], _Medium | None]:
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
            medium: _Medium | None = None
            try:
                medium = _open_medium(plan, run_id, placement, context, seed)
                placed = create_all(
                    plan,
                    run_id,
                    placement,
                    context.clients,
                    context.images,
                    medium.network.endpoints if medium else None,
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
) -> _Medium | None:
    """Start the channel emulator of a run with simulated radios (None without any)."""
    config = channel_config(plan, placement, context.channel, seed=seed)
    if config is None:
        return None
    engine = simulated_radios(plan, placement)[0].node.engine  # place() keeps them on one
    image = context.emulator_images.get(engine)
    if image is None:
        raise EnvironmentProblem(f"the channel emulator's image was not prepared on {engine}")
    network = ChannelNetwork(
        context.clients[engine],
        run_id=run_id,
        image=image.image_id,
        config=config,
        labels={"org.radiops.experiment": plan.experiment.name},
    )
    network.open()
    context.reporter.line(
        f"{plan.experiment.name} {run_id}: channel emulator up: {len(config.tx)} TX, "
        f"{len(config.rx)} RX, {config.sample_rate:g} samples/s, noise floor "
        f"{config.noise_floor_dbfs} dBFS"
    )
    return _Medium(network=network, image=image)


def record_run(
    plan: RunPlan,
    context: RunContext,
    run_id: str,
    run_dir: Path,
    queued: datetime,
    placed: list[Placed],
    state: Supervision,
    error: str | None,
    medium: _Medium | None,
) -> RunResult:
    outputs: list[dict[str, Any]] = []
    logs: list[dict[str, Any]] = []
    warnings: list[str] = []
    channel: dict[str, Any] | None = None
    if medium is not None:  # every container has exited: the medium is no longer needed
        warnings += [f"channel emulator: {problem}" for problem in medium.network.close()]
        config = medium.network.config
        channel = manifest_entry(config, medium.image, medium.network.log)
    written: dict[Instance, dict[str, float]] = {}
    devices: dict[Instance, DeviceReport] = {}
    for item in placed:
        try:
            found = _collect(item, plan, run_dir, context)
        except (FatalError, *ENGINE_ERRORS, OSError) as exc:
            # what could not be copied is said in the manifest; the manifest is always written
            warnings.append(f"{item.instance.key}: results not copied: {exc}")
            if isinstance(exc, requests.exceptions.RequestException) and error is None:
                # the engine went away (a stopping engine also ends its containers):
                # what the containers did is unknown, so the run is an error, not a failure
                error = (
                    f"node {item.node.name}: its engine stopped answering before the "
                    f"results of {item.instance.key} were copied: {exc}"
                )
            continue
        outputs += found.outputs
        logs += found.logs
        warnings += found.warnings
        if found.metrics is not None:
            written[item.instance] = found.metrics
        if found.device is not None:
            devices[item.instance] = found.device
    warnings += annotate(outputs, lambda output: _read_output(output, run_dir, context.store))
    metrics = _merge_metrics(written)
    if plan.experiment.metrics and placed and not written:
        warnings.append(f"no container wrote the metrics file {plan.experiment.metrics}")
    outcome = decide_outcome(placed, state, error=error)
    manifest = build_manifest(
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
        logs=logs,
        metrics=metrics,
        testbed_name=context.testbed_name,
        testbed_file=context.testbed_file,
        seeds={
            **seed_parameters(plan.parameters),
            **({"channel": channel["seed"]} if channel else {}),
        },
        probes=context.probes,
        channel=channel,
        devices=devices,
    )
    if warnings:
        manifest["warnings"] = warnings
    write_manifest(run_dir, manifest)
    (run_dir / PENDING).unlink(missing_ok=True)
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


def _capture_changes(
    item: Placed, run_dir: Path, context: RunContext, limits: CaptureLimits, budget: CaptureBudget
) -> tuple[list[dict[str, Any]], list[str]]:
    """Files the container added or changed outside /radiops (CorteXlab's results model)."""
    outputs: list[dict[str, Any]] = []
    refused: list[str] = []
    diff = item.container.diff() or []
    kind = context.engines.get(item.node.engine, {}).get("kind", DOCKER)
    roots = change_roots(diff, INJECTED[kind])
    directories = {posixpath.dirname(str(d["Path"])) for d in diff}
    if len(roots) > MAX_CHANGE_ROOTS:
        refused.append(
            f"{len(roots) - MAX_CHANGE_ROOTS} changed paths beyond the first "
            f"{MAX_CHANGE_ROOTS} were not kept"
        )
    for root in roots[:MAX_CHANGE_ROOTS]:
        # a root with entries below it in the diff is a directory (an added tree)
        base = root if root in directories else posixpath.dirname(root)
        relative_base = base.strip("/")
        problem = path_problem(root.strip("/"))
        if problem:  # the container named a folder no run directory can hold
            refused.append(f"changed path {problem}")
            continue
        capture = capture_tree(
            item.container,
            root,
            run_dir=run_dir,
            prefix="/".join(filter(None, ("changes", item.instance.slug, relative_base))),
            store=context.store,
            inline_max=context.inline_max,
            limits=limits,
            budget=budget,
        )
        refused += list(capture.refused)
        for captured in capture.files:
            record = _output(item, captured)
            record["path"] = "/".join(filter(None, (relative_base, captured.path)))
            record["origin"] = "changed"
            outputs.append(record)
    return outputs, refused


def change_roots(
    diff: Sequence[Mapping[str, Any]], injected: frozenset[str] = INJECTED[DOCKER]
) -> list[str]:
    """The fewest paths whose copies hold every change ``docker diff`` reports, nothing else.

    A topmost added path is new with everything under it; a changed path with
    nothing below it in the diff is a modified file. Changed directories are
    never copied whole (they hold unchanged files), nor are radiops' own
    /radiops and what the engine injects (``injected``: engine_kind.INJECTED).
    """
    added = {str(d["Path"]) for d in diff if d.get("Kind") == 1}
    changed = {str(d["Path"]) for d in diff if d.get("Kind") == 0}
    # a directory changed only by deletions below it is a parent too, not a modified file
    parents = {posixpath.dirname(str(d["Path"])) for d in diff}
    roots = {p for p in added if posixpath.dirname(p) not in added}
    roots |= {p for p in changed if p not in parents}
    return sorted(p for p in roots if p not in injected and not _ours(p))


def _ours(path: str) -> bool:
    return path == "/radiops" or path.startswith("/radiops/")


@dataclass(kw_only=True)
class _Collected:
    outputs: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    metrics: dict[str, float] | None = None  # None: it wrote no metrics file
    device: DeviceReport | None = None  # a simulated USRP opened through libuhd


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


def _read_output(output: Mapping[str, Any], run_dir: Path, store: ArtifactStore) -> bytes:
    """The first META_MAX_BYTES + 1 bytes of a captured output, inline or in the store."""
    with output_path(output, run_dir, store).open("rb") as handle:
        return handle.read(META_MAX_BYTES + 1)


def _merge_metrics(written: Mapping[Instance, Mapping[str, float]]) -> dict[str, float]:
    """The run's metrics: as written when one container wrote them, else ``role.index.name``."""
    if len(written) == 1:
        return dict(next(iter(written.values())))
    return {
        f"{instance.role}.{instance.index}.{name}": value
        for instance, values in sorted(written.items(), key=lambda kv: (kv[0].role, kv[0].index))
        for name, value in values.items()
    }


def _collect(item: Placed, plan: RunPlan, run_dir: Path, context: RunContext) -> _Collected:
    """One container's logs, outputs, changed files and metrics (it has exited)."""
    found = _Collected()
    item.container.reload()
    if item.container.status == "created":
        found.warnings.append(f"{item.instance.key}: never started; nothing to copy")
        return found
    slug = item.instance.slug
    for log in stream_logs(item.container, run_dir=run_dir, prefix=f"logs/{slug}"):
        found.logs.append({"role": item.instance.role, "index": item.instance.index, **asdict(log)})
    budget = CaptureBudget()  # one for everything copied out of this container
    limits = CaptureLimits(max_total_bytes=context.capture_max)
    capture = capture_tree(
        item.container,
        OUTPUT_DIR,
        run_dir=run_dir,
        prefix=f"outputs/{slug}",
        store=context.store,
        inline_max=context.inline_max,
        limits=limits,
        budget=budget,
    )
    found.warnings += [f"{item.instance.key}: {message}" for message in capture.refused]
    found.outputs += [_output(item, captured) for captured in capture.files]
    changed, refused = _capture_changes(item, run_dir, context, limits, budget)
    found.outputs += changed
    found.warnings += [f"{item.instance.key}: {message}" for message in refused]
    if plan.experiment.metrics:
        found.metrics, problem = _metrics(run_dir, capture, plan.experiment.metrics)
        if problem:
            found.warnings.append(f"{item.instance.key}: {problem}")
    if uses_simulated_radio(plan.experiment.roles[item.instance.role], item.node):
        try:
            found.device = device_report(item.container)
        except BadReport as exc:
            found.warnings.append(f"{item.instance.key}: simulated USRP report refused: {exc}")
    return found


def device_report(container: Container) -> DeviceReport | None:
    """What the simulated USRP reported; None when no application opened it through libuhd."""
    try:
        data = read_small_file(container, RADIO_REPORT, MAX_BYTES)
    except NotReadable as exc:
        raise BadReport(str(exc)) from None
    return None if data is None else parse_report(data)


def _output(item: Placed, captured: Any) -> dict[str, Any]:
    return {
        "path": captured.path,
        "role": item.instance.role,
        "index": item.instance.index,
        "size": captured.size,
        "sha256": captured.sha256,
        "media_type": captured.media_type,
        "storage": {"kind": captured.storage_kind, "location": captured.location},
        "sigmf": None,
    }


def _metrics(
    run_dir: Path, capture: Capture, name: str
) -> tuple[dict[str, float] | None, str | None]:
    """The container's metrics (None when it wrote no file), and what was wrong with them."""
    found = next((f for f in capture.files if f.path == name), None)
    if found is None:
        return None, None
    if found.storage_kind != "inline" or found.size > METRICS_MAX_BYTES:
        return {}, f"metrics file {name} is {found.size} bytes; at most {METRICS_MAX_BYTES}"
    try:
        data = json.loads((run_dir / found.location).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {}, f"metrics file {name} is not JSON: {exc}"
    if not isinstance(data, dict):
        return {}, f"metrics file {name} must hold an object of name: number"
    numbers = {k: finite_number(v) for k, v in data.items() if METRIC_NAME.match(k)}
    good = {k: v for k, v in numbers.items() if v is not None}
    skipped = sorted(repr(k)[:40] for k in data if k not in good)[:10]
    problem = (
        f"metrics {', '.join(skipped)} skipped: a metric is a name (letters, digits, '_', '.', "
        "'-') and a finite number"
        if skipped
        else None
    )
    return good, problem
