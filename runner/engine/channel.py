"""The channel emulator of a run with simulated radios: its network, its container, its addresses.

Simulated radios do not share a medium, so a run with simulated radios gets
one: a private Docker network ``radiops-run-<run_id>`` (``internal``: no
route out of the host, nothing published) with the emulator container
``radiops-channel-<run_id>`` (built from ``images/channel``) on it. Each TX
role instance pushes complex64 samples to its own port of the emulator, each
RX role instance pulls the channel's output from its own port (the wire
format of GNU Radio's ZeroMQ blocks; images/channel/channel_emulator.py).

How the runner uses it::

    config = ChannelConfig(sample_rate=1e6, tx=("tx-0",), rx=("rx-0",),
                           links={"tx-0": {"rx-0": ChannelLink(gain_db=-30)}},
                           noise_floor_dbfs=-90.0, seed=seed)
    with ChannelNetwork(client, run_id=run_id, image=built.image_id, config=config) as channel:
        for instance in instances:         # "tx-0": Instance.slug
            options = container_options(...)
            options["network_mode"] = channel.network
            options["environment"].update(channel.environment(instance.slug))
            ...create, start, supervise, and remove the run's containers...
    # here the emulator and the network are gone, even when the body raised

Only containers on the run's engine can join (``network_mode`` is the
network's name; on the local default testbed every node is on one engine).
The role containers must be removed before the ``with`` ends: the network
is removed last, and containers still attached then are disconnected first.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container
from docker.models.networks import Network

from runner.engine.channel_reach import check_reach
from runner.engine.engines import ENGINE_CALL_ERRORS
from runner.engine.hardening import hardened
from runner.model.errors import EnvironmentProblem, InvalidInput

LABEL_RUN = "org.radiops.run"
LABEL_COMPONENT = "org.radiops.component"
TX_PORT = 5600  # TX i listens on TX_PORT + i (images/channel/channel_emulator.py)
RX_PORT = 5700
# The emulator's own limits (images/channel/channel_model.py), checked here before
# it starts and in testbed.schema.json; tests/channel/test_limits.py ties them.
MAX_PORTS = 100
DEFAULT_BLOCK = 4096
MAX_BLOCK = 1 << 22
MAX_DELAY_SAMPLES = 1 << 24  # the emulator holds each TX's delay line in memory
ENV_TX = "RADIOPS_CHANNEL_TX"
ENV_TX_BIND = "RADIOPS_CHANNEL_TX_BIND"  # for a radio that binds (GNU Radio's ZMQ PUSH sink)
ENV_RX = "RADIOPS_CHANNEL_RX"
ENV_CONFIG = "RADIOPS_CHANNEL"  # inside the emulator: its configuration as JSON
EMULATOR_USER = "65534:65534"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10
MEMORY_BYTES = 1 << 30
_READY = "channel: ready"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True, kw_only=True)
class ChannelLink:
    """How one TX reaches one RX: power gain (path loss as a negative number), delay, offset."""

    gain_db: float
    delay_samples: int = 0
    frequency_offset_hz: float = 0.0


@dataclass(frozen=True, kw_only=True)
class ChannelConfig:
    """What the emulator of one run simulates.

    ``tx`` and ``rx`` name the role instances that transmit and receive
    (``"tx-0"``; one instance may be in both); ``links[tx][rx]`` couples a
    pair, an absent pair does not couple. ``noise_floor_dbfs`` is the AWGN
    power per complex sample at every RX in dB relative to full scale 1.0
    (None: no noise); ``seed`` makes the noise reproducible; ``block`` is the
    emulator's step in samples; ``tx_hosts[tx]`` is the host name of that TX's
    container, where the emulator also connects, for a radio that binds its
    port instead of connecting (GNU Radio's ZMQ PUSH sink). Raises
    InvalidInput listing every problem.
    """

    sample_rate: float
    tx: tuple[str, ...]
    rx: tuple[str, ...]
    links: Mapping[str, Mapping[str, ChannelLink]] = field(default_factory=dict)
    noise_floor_dbfs: float | None = None
    seed: int = 0
    block: int = DEFAULT_BLOCK
    tx_hosts: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = config_problems(self)
        if problems:
            raise InvalidInput("channel configuration: " + "; ".join(problems))


def config_problems(config: ChannelConfig) -> list[str]:
    """Everything wrong with ``config`` (the emulator checks the same again)."""
    problems: list[str] = []
    if not (config.sample_rate > 0 and math.isfinite(config.sample_rate)):
        problems.append("sample_rate must be a positive number")
    if not 1 <= config.block <= MAX_BLOCK:
        problems.append(f"block must be between 1 and {MAX_BLOCK}")
    if config.seed < 0:
        problems.append("seed must not be negative")
    if config.noise_floor_dbfs is not None and not math.isfinite(config.noise_floor_dbfs):
        problems.append("noise_floor_dbfs must be finite")
    for kind, names in (("tx", config.tx), ("rx", config.rx)):
        if len(set(names)) != len(names):
            problems.append(f"{kind} names must be unique")
        if len(names) > MAX_PORTS:
            problems.append(f"at most {MAX_PORTS} {kind} (one port each)")
    for name, host in config.tx_hosts.items():
        if name not in config.tx or not HOST_NAME.match(host):
            problems.append(f"tx_hosts: {name} -> {host}: not a tx and a host name")
    for source, targets in config.links.items():
        if source not in config.tx:
            problems.append(f"links: {source} is not a tx")
        for target, link in targets.items():
            if target not in config.rx:
                problems.append(f"links: {source} -> {target}: {target} is not an rx")
            if not 0 <= link.delay_samples <= MAX_DELAY_SAMPLES:
                problems.append(
                    f"links: {source} -> {target}: delay_samples must be between 0 and "
                    f"{MAX_DELAY_SAMPLES}"
                )
            if not (math.isfinite(link.gain_db) and math.isfinite(link.frequency_offset_hz)):
                problems.append(f"links: {source} -> {target}: gain and offset must be finite")
    return problems


def config_json(config: ChannelConfig) -> str:
    """The emulator's configuration (the ``RADIOPS_CHANNEL`` JSON) for ``config``."""
    data: dict[str, Any] = {
        "sample_rate": config.sample_rate,
        "block": config.block,
        "noise_floor_dbfs": config.noise_floor_dbfs,
        "seed": config.seed,
        "tx": list(config.tx),
        "rx": list(config.rx),
        "links": {
            source: {
                target: {
                    "gain_db": link.gain_db,
                    "delay_samples": link.delay_samples,
                    "frequency_offset_hz": link.frequency_offset_hz,
                }
                for target, link in targets.items()
            }
            for source, targets in config.links.items()
        },
    }
    if config.tx_hosts:
        data["tx_hosts"] = dict(config.tx_hosts)
    return json.dumps(data, sort_keys=True)


def network_name(run_id: str) -> str:
    return f"radiops-run-{run_id}"


def emulator_name(run_id: str) -> str:
    return f"radiops-channel-{run_id}"


@dataclass(frozen=True, kw_only=True)
class ChannelEndpoints:
    """Where the role containers of a run find the emulator."""

    network: str
    """The network's name: the ``network_mode`` of every role container."""
    emulator: str
    """The emulator container's name, which is its host name on the network."""
    tx: Mapping[str, str]
    """TX instance name -> ``tcp://radiops-channel-<run_id>:56xx`` (connect a PUSH socket)."""
    rx: Mapping[str, str]
    """RX instance name -> ``tcp://radiops-channel-<run_id>:57xx`` (connect a PULL socket)."""

    def environment(self, instance: str) -> dict[str, str]:
        """``RADIOPS_CHANNEL_TX`` (and ``_TX_BIND``) and/or ``RADIOPS_CHANNEL_RX`` of that
        instance ({} if neither)."""
        env: dict[str, str] = {}
        if instance in self.tx:
            env[ENV_TX] = self.tx[instance]
            env[ENV_TX_BIND] = f"tcp://*:{TX_PORT}"
        if instance in self.rx:
            env[ENV_RX] = self.rx[instance]
        return env


def endpoints(run_id: str, config: ChannelConfig) -> ChannelEndpoints:
    """The addresses of the emulator of run ``run_id`` (pure)."""
    host = emulator_name(run_id)
    return ChannelEndpoints(
        network=network_name(run_id),
        emulator=host,
        tx={name: f"tcp://{host}:{TX_PORT + i}" for i, name in enumerate(config.tx)},
        rx={name: f"tcp://{host}:{RX_PORT + j}" for j, name in enumerate(config.rx)},
    )


def emulator_options(
    run_id: str, image: str, config: ChannelConfig, labels: Mapping[str, str]
) -> dict[str, Any]:
    """Keyword arguments of ``containers.create`` for the emulator: its whole posture."""
    return {
        **hardened(),
        "image": image,
        "name": emulator_name(run_id),
        "labels": {**labels, LABEL_RUN: run_id, LABEL_COMPONENT: "channel-emulator"},
        "environment": {ENV_CONFIG: config_json(config)},
        "detach": True,
        "network": network_name(run_id),
        "user": EMULATOR_USER,
        "read_only": True,
        "pids_limit": 64,
        "mem_limit": MEMORY_BYTES,
        "memswap_limit": MEMORY_BYTES,
    }


class ChannelNetwork:
    """A run's private network with its channel emulator, for the span of a ``with``.

    ``with ChannelNetwork(client, run_id=..., image=..., config=...) as ep:``
    creates the internal network ``radiops-run-<run_id>`` (labels
    ``org.radiops.run``), starts the emulator on it hardened (user 65534, no
    capabilities, no-new-privileges, read-only root, limits) from the image
    ``image`` (an id or pinned reference present on the engine), waits until
    it listens, and gives the :class:`ChannelEndpoints`. Leaving the block
    stops the emulator (SIGTERM, then kill), keeps its log in :attr:`log`,
    and removes it and the network, whether or not the block raised. The
    role containers join with ``network_mode=ep.network`` and
    ``environment`` including ``ep.environment(instance_name)``.
    """

    def __init__(
        self,
        client: docker.DockerClient,
        *,
        run_id: str,
        image: str,
        config: ChannelConfig,
        labels: Mapping[str, str] | None = None,
        ready_timeout_s: float = READY_TIMEOUT_S,
        reach_check: bool = False,
    ) -> None:
        if not _NAME.match(run_id):
            raise InvalidInput(f"{run_id!r}: a run id must be usable in a container name")
        self.client = client
        self.run_id = run_id
        self.image = image
        self.config = config
        self.labels = dict(labels or {})
        self.ready_timeout_s = ready_timeout_s
        self.reach_check = reach_check
        """Once it listens, check that a container on the network reaches it
        (engine/channel_reach.py: asked for on Podman)."""
        self.endpoints = endpoints(run_id, config)
        self.log = ""
        """The emulator's log (its stderr), kept when the block ends."""
        self._network: Network | None = None
        self._container: Container | None = None

    def __enter__(self) -> ChannelEndpoints:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        problems = self.close()
        if problems and exc is None:
            raise EnvironmentProblem("channel emulator: " + "; ".join(problems))

    def open(self) -> ChannelEndpoints:
        """Create the network and start the emulator; its endpoints once it listens.

        On failure nothing is left behind (EnvironmentProblem says why).
        """
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self.endpoints

    def _start(self) -> None:
        name = self.endpoints.network
        try:
            self._network = self.client.networks.create(
                name,
                driver="bridge",
                internal=True,
                check_duplicate=True,
                labels={**self.labels, LABEL_RUN: self.run_id},
            )
            options = emulator_options(self.run_id, self.image, self.config, self.labels)
            self._container = self.client.containers.create(**options)
            self._container.start()
        except docker.errors.APIError as exc:
            raise EnvironmentProblem(
                f"cannot start the channel emulator of run {self.run_id}: {exc}"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise EnvironmentProblem(f"the engine did not answer: {exc}") from None
        self._wait_ready(self._container)
        if self.reach_check:
            labels = {**self.labels, LABEL_RUN: self.run_id, LABEL_COMPONENT: "network-check"}
            check_reach(self.client, self._container, network=name, image=self.image, labels=labels)

    def _wait_ready(self, container: Container) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            text = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
            if _READY in text:
                return
            container.reload()
            if container.status not in ("created", "running"):
                raise EnvironmentProblem(
                    f"the channel emulator of run {self.run_id} exited before it was ready "
                    f"({container.status}):\n{text.strip()}"
                )
            if time.monotonic() > deadline:
                raise EnvironmentProblem(
                    f"the channel emulator of run {self.run_id} was not ready after "
                    f"{self.ready_timeout_s:g} s:\n{text.strip()}"
                )
            time.sleep(0.05)

    def close(self) -> list[str]:
        """Stop and remove the emulator (its log kept in :attr:`log`), then the network.

        The problems met, for the caller to report; closing twice does nothing.
        """
        problems: list[str] = []
        container, self._container = self._container, None
        if container is not None:
            try:
                container.stop(timeout=STOP_TIMEOUT_S)
                self.log = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
            except docker.errors.NotFound:
                pass
            except ENGINE_CALL_ERRORS as exc:
                problems.append(f"stopping {container.name}: {exc}")
            try:
                container.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
            except ENGINE_CALL_ERRORS as exc:
                problems.append(f"removing {container.name}: {exc}")
        network, self._network = self._network, None
        if network is not None:
            problems += _remove_network(network)
        return problems


def _remove_network(network: Network) -> list[str]:
    try:
        network.reload()
        for attached in network.containers:  # a role container the runner left behind
            network.disconnect(attached, force=True)
        network.remove()
    except docker.errors.NotFound:
        pass
    except ENGINE_CALL_ERRORS as exc:
        return [f"removing network {network.name}: {exc}"]
    return []
