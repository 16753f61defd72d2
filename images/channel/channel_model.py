"""The channel model of the emulator: configuration and the per-block math.

No sockets here (and no pyzmq import), so the math is tested on its own.

Model, for every RX j and every sample index n (n = 0 is the first sample of
the first block; time is counted in samples, not wall-clock seconds)::

    rx_j[n] = sum over TX i linked to j of
                  g_ij * tx_i[n - d_ij] * exp(2j * pi * f_ij * n / fs)
              + w_j[n]

where g_ij = 10 ** (gain_db / 20) (an amplitude gain; ``gain_db`` is the
power ratio in dB), d_ij = ``delay_samples`` (tx_i[m] = 0 for m < 0),
f_ij = ``frequency_offset_hz`` and w_j is complex white Gaussian noise of
power 10 ** (noise_floor_dbfs / 10) per complex sample (full scale is 1.0;
half the power on I, half on Q), drawn from numpy's PCG64 seeded with
``seed``: per block, RX after RX in configuration order, so a run with the
same configuration and the same TX samples gives bit-identical RX samples.
An unlinked TX/RX pair does not couple at all.
"""

from __future__ import annotations

import cmath
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_BLOCK = 4096
MAX_PORTS = 100  # TX i listens on 5600 + i, RX j on 5700 + j: at most 100 of each
MAX_DELAY = 1 << 24  # samples; the delay line is held in memory
MAX_BLOCK = 1 << 22

Samples = npt.NDArray[np.complex64]

_TOP_KEYS = {"sample_rate", "block", "noise_floor_dbfs", "seed", "tx", "rx", "links", "tx_hosts"}
_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_LINK_KEYS = {"gain_db", "delay_samples", "frequency_offset_hz"}


class ConfigError(ValueError):
    """The configuration is not valid; the message lists every problem."""


@dataclass(frozen=True, kw_only=True)
class Link:
    """How one TX reaches one RX."""

    gain_db: float
    delay_samples: int = 0
    frequency_offset_hz: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Config:
    """A checked emulator configuration (see :func:`parse_config`)."""

    sample_rate: float
    block: int
    noise_floor_dbfs: float | None
    seed: int
    tx: tuple[str, ...]
    rx: tuple[str, ...]
    links: Mapping[tuple[str, str], Link]  # (tx, rx) -> link
    tx_hosts: Mapping[str, str] = field(default_factory=dict)  # tx -> host its radio binds on


def parse_config(text: str) -> Config:
    """The configuration in JSON ``text``; raises ConfigError naming every problem.

    ``{"sample_rate": 1e6, "block": 4096, "noise_floor_dbfs": -90, "seed": 1,
    "tx": ["tx-0"], "rx": ["rx-0"], "links": {"tx-0": {"rx-0": {"gain_db": -30,
    "delay_samples": 10, "frequency_offset_hz": 1000.0}}},
    "tx_hosts": {"tx-0": "radiops-node-local2"}}``. ``block`` (4096),
    ``noise_floor_dbfs`` (null: no noise), ``seed`` (0), ``links`` ({}) and
    ``tx_hosts`` ({}) may be left out, and so may a link's delay and offset
    (0). ``tx_hosts`` names the host of a TX whose radio may bind its own
    port rather than connect to the emulator's (GNU Radio's ZMQ PUSH sink
    binds): the emulator also connects there.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not JSON: {exc}") from None
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a JSON object")
    for key in sorted(set(data) - _TOP_KEYS):
        problems.append(f"{key}: unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
    sample_rate = _number(data, "sample_rate", problems, required=True)
    if sample_rate is not None and not (sample_rate > 0 and math.isfinite(sample_rate)):
        problems.append("sample_rate: must be a positive number")
    block = _integer(data, "block", problems, default=DEFAULT_BLOCK)
    if not 1 <= block <= MAX_BLOCK:
        problems.append(f"block: must be between 1 and {MAX_BLOCK}")
    noise = _number(data, "noise_floor_dbfs", problems)
    seed = _integer(data, "seed", problems, default=0)
    if seed < 0:
        problems.append("seed: must not be negative")
    tx = _names(data, "tx", problems)
    rx = _names(data, "rx", problems)
    links = _links(data.get("links", {}), set(tx), set(rx), problems)
    tx_hosts = data.get("tx_hosts", {})
    if not isinstance(tx_hosts, dict) or not all(
        name in tx and isinstance(host, str) and _HOST.match(host)
        for name, host in tx_hosts.items()
    ):
        problems.append("tx_hosts: must map names of tx to host names")
        tx_hosts = {}
    if problems:
        raise ConfigError("; ".join(problems))
    return Config(
        sample_rate=float(sample_rate or 0.0),
        block=block,
        noise_floor_dbfs=noise,
        seed=seed,
        tx=tx,
        rx=rx,
        links=links,
        tx_hosts=dict(tx_hosts),
    )


def _number(
    data: Mapping[str, Any], key: str, problems: list[str], *, required: bool = False
) -> float | None:
    value = data.get(key)
    if value is None:
        if required:
            problems.append(f"{key}: required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"{key}: must be a number, not {json.dumps(value)}")
        return None
    if not math.isfinite(value):
        problems.append(f"{key}: must be finite")
        return None
    return float(value)


def _integer(data: Mapping[str, Any], key: str, problems: list[str], *, default: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{key}: must be an integer, not {json.dumps(value)}")
        return default
    return value


def _names(data: Mapping[str, Any], key: str, problems: list[str]) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(n, str) and n for n in value):
        problems.append(f"{key}: must be a list of names")
        return ()
    if len(set(value)) != len(value):
        problems.append(f"{key}: names must be unique")
    if len(value) > MAX_PORTS:
        problems.append(f"{key}: at most {MAX_PORTS} (one port each)")
    return tuple(value)


def _links(
    value: object, tx: set[str], rx: set[str], problems: list[str]
) -> dict[tuple[str, str], Link]:
    links: dict[tuple[str, str], Link] = {}
    if not isinstance(value, dict):
        problems.append("links: must be an object {tx: {rx: link}}")
        return links
    for source, targets in value.items():
        if source not in tx:
            problems.append(f"links.{source}: not a TX of this configuration")
        if not isinstance(targets, dict):
            problems.append(f"links.{source}: must be an object {{rx: link}}")
            continue
        for target, spec in targets.items():
            where = f"links.{source}.{target}"
            if target not in rx:
                problems.append(f"{where}: not an RX of this configuration")
            if not isinstance(spec, dict):
                problems.append(f"{where}: must be an object")
                continue
            for key in sorted(set(spec) - _LINK_KEYS):
                problems.append(f"{where}.{key}: unknown key")
            found: list[str] = []
            gain = _number(spec, "gain_db", found, required=True)
            offset = _number(spec, "frequency_offset_hz", found)
            delay = _integer(spec, "delay_samples", found, default=0)
            if not 0 <= delay <= MAX_DELAY:
                found.append(f"delay_samples: must be between 0 and {MAX_DELAY}")
            problems.extend(f"{where}.{problem}" for problem in found)
            links[(source, target)] = Link(
                gain_db=gain or 0.0, delay_samples=delay, frequency_offset_hz=offset or 0.0
            )
    return links


def noise_sigma(noise_floor_dbfs: float | None) -> float:
    """The standard deviation of I and of Q for that noise power per complex sample."""
    if noise_floor_dbfs is None:
        return 0.0
    return math.sqrt(10.0 ** (noise_floor_dbfs / 10.0) / 2.0)


@dataclass(frozen=True, kw_only=True)
class _Path:
    tx: int
    start: int  # where this link's block starts in the TX's delay line
    gain: np.complex64  # used when there is no frequency offset
    cycles_per_sample: float  # f / fs
    table: Samples | None  # gain * exp(2j pi f k / fs), k = 0..block-1


class Channel:
    """The channel's state between blocks: delay lines, oscillator phase, noise generator.

    Usage, once per block: fill :meth:`tx_block` of every TX (a TX with
    nothing to send leaves zeros: :meth:`silence`), then call :meth:`step`,
    which returns one block per RX (the arrays are reused by the next step:
    send or copy them first).
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.block = config.block
        self.sample = 0  # index n of the first sample of the next block
        depth = [0] * len(config.tx)
        for (source, _), each in config.links.items():
            i = config.tx.index(source)
            depth[i] = max(depth[i], each.delay_samples)
        self._depth = depth
        # per TX: [depth samples of history | the block being filled]
        self._lines = [np.zeros(d + self.block, np.complex64) for d in depth]
        self._out = [np.zeros(self.block, np.complex64) for _ in config.rx]
        self._scratch = np.empty(self.block, np.complex64)
        self._rotor = np.empty(self.block, np.complex64)
        self._sigma = np.float32(noise_sigma(config.noise_floor_dbfs))
        self._rng = np.random.Generator(np.random.PCG64(config.seed))
        k = np.arange(self.block, dtype=np.float64)
        self._paths: list[list[_Path]] = []
        for target in config.rx:
            paths = []
            for i, source in enumerate(config.tx):
                link = config.links.get((source, target))
                if link is None:
                    continue
                gain = 10.0 ** (link.gain_db / 20.0)
                per_sample = link.frequency_offset_hz / config.sample_rate
                table = None
                if per_sample != 0.0:
                    table = (gain * np.exp(2j * np.pi * per_sample * k)).astype(np.complex64)
                paths.append(
                    _Path(
                        tx=i,
                        start=depth[i] - link.delay_samples,
                        gain=np.complex64(gain),
                        cycles_per_sample=per_sample,
                        table=table,
                    )
                )
            self._paths.append(paths)

    def tx_block(self, i: int) -> Samples:
        """Where TX ``i``'s next ``block`` samples go (a view into its delay line)."""
        return self._lines[i][self._depth[i] :]

    def silence(self, i: int, start: int = 0) -> None:
        """TX ``i`` sends zeros from sample ``start`` of the current block on."""
        self._lines[i][self._depth[i] + start :] = 0

    def step(self) -> list[Samples]:
        """The next block of every RX, in configuration order; advances time one block."""
        n0 = self.sample
        for j, out in enumerate(self._out):
            if self._sigma:
                flat = out.view(np.float32)
                self._rng.standard_normal(out=flat, dtype=np.float32)
                flat *= self._sigma
            else:
                out.fill(0)
            for path in self._paths[j]:
                x = self._lines[path.tx][path.start : path.start + self.block]
                if path.table is None:
                    np.multiply(x, path.gain, out=self._scratch)
                else:
                    # the table holds the phase within a block; the block's start
                    # phase comes from the absolute sample index, so it never drifts
                    cycles = math.fmod(path.cycles_per_sample * n0, 1.0)
                    start = np.complex64(cmath.exp(2j * math.pi * cycles))
                    np.multiply(path.table, start, out=self._rotor)
                    np.multiply(x, self._rotor, out=self._scratch)
                out += self._scratch
        for line, depth in zip(self._lines, self._depth, strict=True):
            if depth:
                line[:depth] = line[self.block :]  # numpy copes with the overlap
        self.sample += self.block
        return self._out


def run_blocks(config: Config, tx: list[Samples]) -> list[Samples]:
    """The RX streams for whole TX streams (each a multiple of ``block`` long; tests).

    A TX stream shorter than the longest is followed by zeros.
    """
    channel = Channel(config)
    length = max((len(s) for s in tx), default=0)
    blocks = -(-length // config.block)
    received: list[list[Samples]] = [[] for _ in config.rx]
    for b in range(blocks):
        for i, stream in enumerate(tx):
            part = stream[b * config.block : (b + 1) * config.block]
            target = channel.tx_block(i)
            target[: len(part)] = part
            channel.silence(i, len(part))
        for j, out in enumerate(channel.step()):
            received[j].append(out.copy())
    empty = np.zeros(0, np.complex64)
    return [np.concatenate(r) if r else empty for r in received]
