"""Containers of one run: created hardened, started together, bounded, stopped, removed.

The only module that starts experiment code. Everything a container gets is
decided by ``container_options`` (pure, tested without Docker); everything
else here talks to the engines.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from runner.engine.channel import ChannelEndpoints
from runner.engine.datasets import dataset_environment, dataset_mounts
from runner.engine.engines import ENGINE_ERRORS
from runner.engine.gpus import gpu_options, run_gpus
from runner.engine.hardening import hardened
from runner.model.errors import EnvironmentProblem
from runner.model.experiment import Role, Scalar
from runner.model.limits import Limits
from runner.model.plan import Instance, RunPlan
from runner.model.problems import printable
from runner.model.radio_report import RADIO_REPORT
from runner.model.schedule import radio_for, reservation_name
from runner.model.testbed import Node, Radio

OUTPUT_DIR = "/radiops/out"
PARAMETERS_FILE = "/radiops/parameters.json"
# Where images/sdr-base installs the simulated USRP; UHD_MODULE_PATH names it only
# in containers whose radio is simulated, so a real node's UHD never loads it.
SIMULATED_UHD_MODULES = "/usr/local/lib/radiops/uhd-modules"
LABEL_PREFIX = "org.radiops."
DEFAULT_LIMITS = Limits(cpus=None, memory_bytes=2 << 30, pids=1024)
POLL_S = 0.1
KILL_WAIT_S = 10.0


class NodeBusy(Exception):
    """Another run holds some of the chosen nodes: node -> who holds it."""

    def __init__(self, holders: Mapping[str, str]) -> None:
        self.holders = dict(holders)
        self.nodes = set(holders)
        super().__init__("; ".join(f"{node} {holders[node]}" for node in sorted(holders)))


def holder(client: docker.DockerClient, node: str) -> str:
    """Who holds ``node``'s reservation, for the person waiting for it.

    A reservation left by a run whose runner died holds the node until
    ``radiops recover`` (in that run's repository) or an operator removes it:
    say so, instead of an anonymous wait.
    """
    name = reservation_name(node)
    try:
        container = client.containers.get(name)
    except ENGINE_ERRORS:  # gone already (the holder just finished), or the engine is away
        return "held by another run"
    labels = container.labels or {}
    run_id, experiment = (labels.get(LABEL_PREFIX + key, "?") for key in ("run", "experiment"))
    run = printable(f"run {run_id} of {experiment}")
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
    client: docker.DockerClient
    container: Container
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


def labels(run_id: str, plan: RunPlan, instance: Instance, node: Node) -> dict[str, str]:
    """The labels that tie a container to its run (found again by ``radiops recover``)."""
    return {
        f"{LABEL_PREFIX}run": run_id,
        f"{LABEL_PREFIX}experiment": plan.experiment.name,
        f"{LABEL_PREFIX}role": instance.role,
        f"{LABEL_PREFIX}index": str(instance.index),
        f"{LABEL_PREFIX}node": node.name,
    }


def environment(plan: RunPlan, run_id: str, instance: Instance, node: Node) -> dict[str, str]:
    """The documented environment contract (site/scenarios.md)."""
    role = plan.experiment.roles[instance.role]
    env = dict(role.env)
    env.update(
        RADIOPS_EXPERIMENT=plan.experiment.name,
        RADIOPS_RUN_ID=run_id,
        RADIOPS_ROLE=instance.role,
        RADIOPS_ROLE_INDEX=str(instance.index),
        RADIOPS_NODE=node.name,
        RADIOPS_OUTPUT_DIR=OUTPUT_DIR,
        RADIOPS_PARAMETERS=PARAMETERS_FILE,
    )
    for name, value in plan.parameters.items():
        env[f"RADIOPS_PARAM_{name.upper()}"] = scalar_text(value)
    if role.radio is not None:
        settings: dict[str, Scalar | None] = {
            "FREQUENCY": role.radio.frequency,
            "RATE": role.radio.rate,
            "GAIN": role.radio.gain,
            "ANTENNA": role.radio.antenna,
            "CHANNEL": role.radio.channel,
        }
        for key, setting in settings.items():
            if setting is not None:
                env[f"RADIOPS_RADIO_{key}"] = scalar_text(setting)
        radio = radio_for(role, node)
        if radio is not None:
            env.update(radio_environment(radio, pacing=plan.experiment.pacing))
            if radio.simulated:
                env["RADIOPS_RADIO_REPORT"] = RADIO_REPORT
    return env


def radio_environment(radio: Radio, *, pacing: str = "realtime") -> dict[str, str]:
    """What a container learns of the node's radio that serves it (a role's, or the probe's).

    A simulated radio's container also gets ``UHD_MODULE_PATH``: libuhd then
    finds the simulated USRP of images/sdr-base (sim_usrp/), and only there;
    and ``RADIOPS_RADIO_PACING``, the scenario's ``pacing`` (realtime or fast).
    A real radio keeps wall-clock time whatever the scenario says.
    """
    env = {
        "RADIOPS_RADIO_TYPE": radio.type,
        "RADIOPS_RADIO_SIMULATED": "true" if radio.simulated else "false",
    }
    if radio.simulated:
        env["UHD_MODULE_PATH"] = SIMULATED_UHD_MODULES
        env["RADIOPS_RADIO_PACING"] = pacing
    if radio.serial:
        env["RADIOPS_RADIO_SERIAL"] = radio.serial
    if radio.args:
        env["UHD_ARGS"] = radio.args
    return env


def effective_limits(role: Role, node: Node) -> Limits:
    """The scenario's limits within the node's, with defaults so nothing is unbounded."""

    def smallest(*values: float | int | None) -> Any:
        present = [v for v in values if v is not None]
        return min(present) if present else None

    wanted, allowed = role.resources, node.limits
    return Limits(
        cpus=smallest(wanted.cpus, allowed.cpus),
        memory_bytes=smallest(
            wanted.memory_bytes or DEFAULT_LIMITS.memory_bytes, allowed.memory_bytes
        ),
        pids=smallest(wanted.pids or DEFAULT_LIMITS.pids, allowed.pids),
    )


def container_options(
    plan: RunPlan,
    run_id: str,
    instance: Instance,
    node: Node,
    image_id: str,
    channel: ChannelEndpoints | None = None,
    gpus: Sequence[str] = (),
) -> dict[str, Any]:
    """Keyword arguments of ``containers.create``: the whole security posture in one place.

    A container with a simulated radio joins the run's ``channel`` network (and
    no other) and gets its emulator endpoints in the environment. It gets the
    GPUs ``gpus`` and its role's datasets (named volumes, read-only), no more.
    """
    role = plan.experiment.roles[instance.role]
    limits = effective_limits(role, node)
    radio = radio_for(role, node) if role.radio is not None else None
    options: dict[str, Any] = {
        **hardened(capabilities=node.capabilities, devices=radio.devices if radio else ()),
        "image": image_id,
        "name": reservation_name(node.name),
        "labels": labels(run_id, plan, instance, node),
        "environment": environment(plan, run_id, instance, node),
        "detach": True,
        "network_mode": node.network or "none",
        "pids_limit": limits.pids,
        "mem_limit": limits.memory_bytes,
        "memswap_limit": limits.memory_bytes,  # no swap on top of the memory limit
        **gpu_options(gpus),
    }
    if role.datasets:
        options["mounts"] = dataset_mounts(role)
        options["environment"].update(dataset_environment(role))
    if channel is not None and (endpoints := channel.environment(instance.slug)):
        options["network_mode"] = channel.network
        options["environment"].update(endpoints)
    if limits.cpus is not None:
        options["nano_cpus"] = int(limits.cpus * 1e9)
    if role.command is not None:
        options["command"] = list(role.command)
    if role.entrypoint is not None:
        options["entrypoint"] = list(role.entrypoint)
    return options


def seed_archive(parameters: Mapping[str, Scalar]) -> bytes:
    """/radiops/parameters.json and writable /radiops/out and /radiops/radio, put in before start.

    Copied in rather than bind-mounted: no host path is ever mounted.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        folders = (("radiops", 0o755), ("radiops/out", 0o1777), ("radiops/radio", 0o1777))
        for name, mode in folders:
            folder = tarfile.TarInfo(name)
            folder.type, folder.mode = tarfile.DIRTYPE, mode
            archive.addfile(folder)
        data = (json.dumps(dict(parameters), indent=2, sort_keys=True) + "\n").encode()
        info = tarfile.TarInfo("radiops/parameters.json")
        info.size, info.mode = len(data), 0o644
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def create_all(
    plan: RunPlan,
    run_id: str,
    placement: Mapping[Instance, Node],
    clients: Mapping[str, docker.DockerClient],
    images: Mapping[tuple[str, str], str],
    channel: ChannelEndpoints | None = None,
) -> list[Placed]:
    """Create every container (reserving its node); NodeBusy when a node is taken.

    ``images`` maps (role, engine URL) to the image ID to run there; ``channel``
    is the run's channel emulator, if it has one. On any failure, the
    containers already created are removed again.
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
            try:
                container = client.containers.create(**options)
            except docker.errors.APIError as exc:
                if exc.status_code == 409:  # the name is taken: another run holds the node
                    busy[node.name] = holder(client, node.name)
                    continue
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
        time.sleep(POLL_S)


@dataclass(kw_only=True)
class Usage:
    """What one container used, from the engine's statistics (cgroup counters)."""

    cpu_seconds: float = 0.0
    memory_peak_bytes: int = 0
    pids_peak: int = 0


class Sampler:
    """Samples every container's statistics in a thread while the run lasts.

    One-shot statistics cost a few milliseconds; a container too short to be
    sampled has no entry (the manifest then says null, not zero).
    """

    def __init__(self, placed: list[Placed], *, interval_s: float = 0.5) -> None:
        self.placed = placed
        self.interval_s = interval_s
        self.usage: dict[Instance, Usage] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="stats")

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            for item in self.placed:
                try:
                    stats = item.container.stats(stream=False, one_shot=True)
                except ENGINE_ERRORS:
                    continue
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


def scalar_text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _command_of(container: Container) -> tuple[str, ...]:
    config = container.attrs.get("Config", {})
    return tuple((config.get("Entrypoint") or []) + (config.get("Cmd") or []))


def _exit_code(item: Placed) -> str:
    code = item.container.attrs.get("State", {}).get("ExitCode")
    return f"exit code {code}"


def _kill(container: Container, signal: str) -> None:
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
