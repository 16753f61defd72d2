"""Containers of one run: created hardened, started together, bounded, stopped, removed.

The only module that starts experiment code. Everything a container gets is
decided by ``container_spec.container_options`` (pure, tested without Docker); everything
else here talks to the engines.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import docker
import docker.errors

from runner.engine.channel import ChannelEndpoints
from runner.engine.container_spec import container_options, held_by, seed_archive
from runner.engine.engines import ENGINE_ERRORS
from runner.engine.exit_watch import ExitWatch
from runner.engine.gpus import run_gpus
from runner.engine.node import NameTaken, NodeContainer, NodeEngine
from runner.model.errors import EnvironmentProblem
from runner.model.plan import Instance, RunPlan
from runner.model.problems import printable
from runner.model.schedule import reservation_name
from runner.model.testbed import Node

POLL_S = 0.1
IDLE_S = 0.5  # longest sleep of the supervisor: exits wake it at once (ExitWatch)
KILL_WAIT_S = 10.0


class NodeBusy(Exception):
    """Another run holds some of the chosen nodes: node -> who holds it."""

    def __init__(self, holders: Mapping[str, str]) -> None:
        self.holders = dict(holders)
        self.nodes = set(holders)
        super().__init__("; ".join(f"{node} {holders[node]}" for node in sorted(holders)))


def holder(engine: NodeEngine, node: str) -> str:
    """Who holds ``node``'s reservation, for the person waiting for it.

    A reservation left by a run whose runner died holds the node until
    ``radiops recover`` (in that run's repository) or an operator removes it:
    say so, instead of an anonymous wait.
    """
    name = reservation_name(node)
    try:
        container = engine.get(name)
    except ENGINE_ERRORS:  # gone already (the holder just finished), or the engine is away
        return "held by another run"
    run = printable(held_by(container.labels or {}))
    state = container.attrs.get("State", {})
    if container.status in ("exited", "dead"):
        return (
            f"held by {run}, whose container exited at {state.get('FinishedAt', '?')[:19]}Z and "
            f"was never removed: `radiops recover` in that run's repository, or "
            f"`docker rm {name}` on the node's engine, frees it"
        )
    if container.status == "created":
        return f"held by {run} (starting)"
    return f"held by {run} ({container.status} since {state.get('StartedAt', '?')[:19]}Z)"


class Cancelled(Exception):
    """The runner was asked to stop (Ctrl-C, SIGTERM from a cancelled CI job)."""


@dataclass(frozen=True, kw_only=True)
class Placed:
    """A container of the run, created on its node (which it thereby reserves)."""

    instance: Instance
    node: Node
    client: NodeEngine
    container: NodeContainer
    image_id: str
    command: tuple[str, ...]


@dataclass(kw_only=True)
class Ended:
    """How one container ended, as the supervisor saw it."""

    status: str  # exited | timeout | killed | cancelled | error
    stopped_at_end: bool = False  # stopped by us when the duration was over
    error: str | None = None


@dataclass(kw_only=True)
class Supervision:
    started: datetime | None = None
    finished: datetime | None = None
    ended: dict[Instance, Ended] = field(default_factory=dict)
    timed_out: bool = False
    cancelled: str | None = None
    usage: dict[Instance, Usage] = field(default_factory=dict)


def create_all(
    plan: RunPlan,
    run_id: str,
    placement: Mapping[Instance, Node],
    clients: Mapping[str, NodeEngine],
    images: Mapping[tuple[str, str], str],
    channel: ChannelEndpoints | None = None,
    adapt: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> list[Placed]:
    """Create every container (reserving its node); NodeBusy when a node is taken.

    ``images`` maps (role, engine URL) to the image ID to run there; ``channel``
    is the run's channel emulator, if it has one; ``adapt`` turns a run's
    options into another use's (``container_spec.session_options``). On any
    failure, the containers already created are removed again.
    """
    placed: list[Placed] = []
    busy: dict[str, str] = {}
    seed = seed_archive(plan.parameters)
    gpus = run_gpus(plan, placement)
    try:
        for instance, node in placement.items():
            client = clients[node.engine]
            image_id = images[(instance.role, node.engine)]
            options = container_options(
                plan, run_id, instance, node, image_id, channel, gpus[instance]
            )
            if adapt is not None:
                options = adapt(options)
            try:
                container = client.create(options)
            except NameTaken:  # another run holds the node
                busy[node.name] = holder(client, node.name)
                continue
            except docker.errors.APIError as exc:
                message = f"node {node.name}: cannot create a container: {exc}"
                raise EnvironmentProblem(message) from None
            placed.append(
                Placed(
                    instance=instance,
                    node=node,
                    client=client,
                    container=container,
                    image_id=image_id,
                    command=_command_of(container),
                )
            )
            if container.attrs.get("Image") != image_id:
                raise EnvironmentProblem(
                    f"node {node.name}: the container's image {container.attrs.get('Image')} "
                    f"is not the expected {image_id}"
                )
            container.put_archive("/", seed)
        if busy:
            raise NodeBusy(busy)
    except BaseException:
        remove_all(placed)
        raise
    return placed


def supervise(
    placed: list[Placed],
    state: Supervision,
    *,
    duration_s: float,
    timeout_s: float,
    on_event: Callable[[str], None] = lambda _: None,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Start all containers together; stop them at the duration, kill them at the timeout.

    What happens is recorded in ``state`` (the caller's, so it survives an
    exception). Raises Cancelled as soon as ``cancel`` is set (by a signal
    handler); the caller must then call ``stop_all`` and record the run.
    """
    state.started = datetime.now(UTC)
    for item in placed:
        item.container.start()
    on_event(f"started {len(placed)} container(s)")
    sampler = Sampler(placed)
    try:
        with sampler:
            _watch(placed, state, duration_s, timeout_s, on_event, cancel, clock)
    finally:
        state.usage = sampler.usage
    state.finished = datetime.now(UTC)


def _watch(
    placed: list[Placed],
    state: Supervision,
    duration_s: float,
    timeout_s: float,
    on_event: Callable[[str], None],
    cancel: threading.Event | None,
    clock: Callable[[], float],
) -> None:
    begin = clock()
    running = {item.instance: item for item in placed}
    stopping: set[Instance] = set()
    exits = ExitWatch(item.container for item in placed)
    while running:
        if cancel is not None and cancel.is_set():
            raise Cancelled("the runner was asked to stop")
        elapsed = clock() - begin
        for instance, item in list(running.items()):
            try:
                item.container.reload()
            except ENGINE_ERRORS as exc:
                raise EnvironmentProblem(
                    f"node {item.node.name}: its engine stopped answering during the run: {exc}"
                ) from None
            if item.container.status in ("exited", "dead"):
                killed = instance in stopping
                state.ended[instance] = Ended(status="exited", stopped_at_end=killed)
                on_event(f"{instance.key} on {item.node.name} exited ({_exit_code(item)})")
                del running[instance]
        if not running:
            break
        if elapsed >= timeout_s:
            state.timed_out = True
            for instance, item in running.items():
                _kill(item.container, "SIGKILL")
                state.ended[instance] = Ended(status="timeout")
                on_event(f"{instance.key} on {item.node.name} killed at the hard timeout")
            _wait_exited(list(running.values()))
            break
        if elapsed >= duration_s:
            for instance, item in running.items():
                if instance not in stopping:
                    _kill(item.container, "SIGTERM")
                    stopping.add(instance)
                    on_event(f"{instance.key} on {item.node.name}: duration over, stopping")
        # woken by an exit; else at the next deadline, or to look at ``cancel`` again
        deadline = timeout_s if elapsed >= duration_s else duration_s
        exits.sleep(min(IDLE_S, max(POLL_S, deadline - (clock() - begin))))


@dataclass(kw_only=True)
class Usage:
    """What one container used, from the engine's statistics (cgroup counters)."""

    cpu_seconds: float = 0.0
    memory_peak_bytes: int = 0
    pids_peak: int = 0


class Sampler:
    """Samples every container's statistics in a thread while the run lasts.

    One-shot statistics of a running container take up to half a second (the
    engine answers at its next collection), so the run does not wait for the
    request in flight when its containers end: what arrives after ``__exit__``
    is dropped, and ``usage`` holds what was sampled until then. A container
    too short to be sampled has no entry (the manifest then says null, not zero).
    """

    def __init__(self, placed: list[Placed], *, interval_s: float = 0.5) -> None:
        self.placed = placed
        self.interval_s = interval_s
        self.usage: dict[Instance, Usage] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="stats")

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        with self._lock:  # no sample lands after this
            self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            for item in self.placed:
                try:
                    stats = item.container.stats(stream=False, one_shot=True)
                except ENGINE_ERRORS:
                    continue
                with self._lock:
                    if self._stop.is_set():
                        return
                    if isinstance(stats, dict):
                        self._add(item.instance, stats)

    def _add(self, instance: Instance, stats: Mapping[str, Any]) -> None:
        cpu = stats.get("cpu_stats", {}).get("cpu_usage", {}).get("total_usage")
        memory = stats.get("memory_stats", {})
        pids = stats.get("pids_stats", {}).get("current")
        if cpu is None and not memory:
            return  # a container that has already exited reports nothing
        usage = self.usage.setdefault(instance, Usage())
        if cpu is not None:
            usage.cpu_seconds = max(usage.cpu_seconds, cpu / 1e9)
        peak = memory.get("max_usage") or memory.get("usage") or 0
        usage.memory_peak_bytes = max(usage.memory_peak_bytes, int(peak))
        usage.pids_peak = max(usage.pids_peak, int(pids or 0))


def stop_all(placed: list[Placed], state: Supervision, *, reason: str) -> None:
    """Kill whatever still runs (cancellation or error); mark those containers ``status``."""
    for item in placed:
        try:
            item.container.reload()
            if item.container.status not in ("exited", "dead", "created"):
                _kill(item.container, "SIGKILL")
        except ENGINE_ERRORS:
            pass  # an engine that does not answer: its containers are swept when it is back
        state.ended.setdefault(item.instance, Ended(status="cancelled", error=reason))
    _wait_exited(placed)
    state.finished = state.finished or datetime.now(UTC)


def remove_all(placed: list[Placed]) -> list[str]:
    """Remove the containers (releasing their nodes); returns what could not be removed."""
    failures = []
    for item in placed:
        try:
            item.container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except ENGINE_ERRORS as exc:
            failures.append(f"{item.container.name} on {item.node.name}: {exc}")
    return failures


def follow_logs(placed: list[Placed], emit: Callable[[str], None]) -> list[threading.Thread]:
    """Stream every container's output lines to ``emit`` while it runs (daemon threads)."""
    threads = []
    for item in placed:

        def pump(item: Placed = item) -> None:
            try:
                for line in item.container.logs(stream=True, follow=True):
                    text = line.decode("utf-8", errors="replace").rstrip("\n")
                    emit(f"{item.instance.key}@{item.node.name} | {text}")
            except ENGINE_ERRORS:
                return

        thread = threading.Thread(target=pump, daemon=True, name=f"logs-{item.instance.slug}")
        thread.start()
        threads.append(thread)
    return threads


def _command_of(container: NodeContainer) -> tuple[str, ...]:
    config = container.attrs.get("Config", {})
    return tuple((config.get("Entrypoint") or []) + (config.get("Cmd") or []))


def _exit_code(item: Placed) -> str:
    code = item.container.attrs.get("State", {}).get("ExitCode")
    return f"exit code {code}"


def _kill(container: NodeContainer, signal: str) -> None:
    try:
        container.kill(signal=signal)
    except docker.errors.APIError as exc:
        if exc.status_code not in (404, 409):  # gone, or not running any more
            raise
    except ENGINE_ERRORS as exc:
        raise EnvironmentProblem(
            f"container {container.name}: its engine stopped answering: {exc}"
        ) from None


def _wait_exited(placed: list[Placed]) -> None:
    deadline = time.monotonic() + KILL_WAIT_S
    for item in placed:
        while time.monotonic() < deadline:
            try:
                item.container.reload()
            except ENGINE_ERRORS:
                break  # gone, or its engine does not answer: nothing to wait for
            if item.container.status in ("exited", "dead", "created"):
                break
            time.sleep(POLL_S)
