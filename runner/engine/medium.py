"""The simulated medium of one run: which containers have simulated radios, and the channel.

Pure: from a placement and the testbed's ``channel:`` settings to the
:class:`ChannelConfig` the run's emulator simulates (runner/engine/channel.py starts
it). A role's ``radio.direction`` decides its ports: the emulator waits for
every transmitter's samples and every receiver's connection, so only roles
that declare it transmit or receive.

A link couples a transmitting instance to a receiving one (never an instance
to itself): power gain ``-path_loss`` from the inventory, its delay, and a
frequency offset of the link's own plus the difference of the two centre
frequencies. A receiver tuned so far away that the transmitter falls outside
its band (half the sample rate or more) does not hear it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.engine.channel import ChannelConfig, ChannelLink
from runner.model.errors import InvalidInput
from runner.model.experiment import RadioSettings
from runner.model.plan import Instance, RunPlan
from runner.model.schedule import reservation_name, uses_simulated_radio
from runner.model.testbed import ChannelSettings, Node


@dataclass(frozen=True, kw_only=True)
class SimulatedRadio:
    """A container of the run whose radio is the channel emulator."""

    instance: Instance
    node: Node
    settings: RadioSettings


def simulated_radios(plan: RunPlan, placement: Mapping[Instance, Node]) -> list[SimulatedRadio]:
    """The run's containers with simulated radios, in placement order."""
    roles = plan.experiment.roles
    found = []
    for instance, node in placement.items():
        role = roles[instance.role]
        if role.radio is not None and uses_simulated_radio(role, node):
            found.append(SimulatedRadio(instance=instance, node=node, settings=role.radio))
    return found


def channel_config(
    plan: RunPlan,
    placement: Mapping[Instance, Node],
    settings: ChannelSettings,
    *,
    seed: int,
) -> ChannelConfig | None:
    """What the run's emulator simulates; None when no container has a simulated radio.

    Raises InvalidInput when the simulated radios disagree on the sample rate
    (the emulator runs at one rate) or none declares one.
    """
    radios = simulated_radios(plan, placement)
    if not radios:
        return None
    rate = _common_rate(radios)
    transmitters = [radio for radio in radios if radio.settings.transmits]
    receivers = [radio for radio in radios if radio.settings.receives]
    links: dict[str, dict[str, ChannelLink]] = {}
    for tx in transmitters:
        for rx in receivers:
            if tx.instance == rx.instance:
                continue
            link = settings.link(tx.node.name, rx.node.name)
            tuning = _tuning_offset(tx.settings, rx.settings)
            if abs(tuning) >= rate / 2:
                continue
            links.setdefault(tx.instance.slug, {})[rx.instance.slug] = ChannelLink(
                gain_db=-link.path_loss_db,
                delay_samples=link.delay_samples,
                frequency_offset_hz=link.frequency_offset_hz + tuning,
            )
    return ChannelConfig(
        sample_rate=rate,
        tx=tuple(radio.instance.slug for radio in transmitters),
        rx=tuple(radio.instance.slug for radio in receivers),
        links=links,
        noise_floor_dbfs=settings.noise_floor_dbfs,
        seed=seed,
        # a container's name is its host name on the run's network
        tx_hosts={radio.instance.slug: reservation_name(radio.node.name) for radio in transmitters},
    )


def _common_rate(radios: list[SimulatedRadio]) -> float:
    rates = {radio.instance.role: radio.settings.rate for radio in radios}
    missing = sorted(role for role, rate in rates.items() if rate is None)
    if missing:
        raise InvalidInput(
            f"role {', '.join(missing)}: a simulated radio needs radio.rate (the channel "
            "emulator runs at the run's sample rate)"
        )
    distinct = {rate for rate in rates.values() if rate is not None}
    if len(distinct) > 1:
        listed = ", ".join(f"{role} {rate:g}" for role, rate in sorted(rates.items()))
        raise InvalidInput(
            f"simulated radios run at one sample rate (the channel emulator's); the roles "
            f"ask for {listed}: give every radio role the same radio.rate"
        )
    return distinct.pop()


def _tuning_offset(tx: RadioSettings, rx: RadioSettings) -> float:
    """Where the transmitter's centre lands in the receiver's baseband, in Hz."""
    if tx.frequency is None or rx.frequency is None:
        return 0.0
    return tx.frequency - rx.frequency


@dataclass(frozen=True, kw_only=True)
class EmulatorImage:
    """The channel emulator's image on one engine (built from the repository's images/channel)."""

    image_id: str
    context_sha256: str | None = None


LOG_TAIL_LINES = 40
LOG_TAIL_CHARS = 16384  # the manifest schema's limit


def manifest_entry(config: ChannelConfig, image: EmulatorImage, log: str) -> dict[str, Any]:
    """The manifest's ``channel``: what the emulator simulated, with the end of its log."""
    entry: dict[str, Any] = {
        "image_id": image.image_id,
        "sample_rate": config.sample_rate,
        "noise_floor_dbfs": config.noise_floor_dbfs,
        "seed": config.seed,
        "block": config.block,
        "tx": list(config.tx),
        "rx": list(config.rx),
        "links": [
            {
                "tx": tx,
                "rx": rx,
                "gain_db": link.gain_db,
                "delay_samples": link.delay_samples,
                "frequency_offset_hz": link.frequency_offset_hz,
            }
            for tx, targets in config.links.items()
            for rx, link in targets.items()
        ],
        "log_tail": "\n".join(log.strip().splitlines()[-LOG_TAIL_LINES:])[-LOG_TAIL_CHARS:],
    }
    if image.context_sha256:
        entry["context_sha256"] = image.context_sha256
    return entry
