"""The radio settings a container receives from radiops, read from its environment.

The contract (site/scenarios.md, "What a container receives"):

========================  ====================================================
``RADIOPS_RADIO_FREQUENCY``  centre frequency, Hz (required)
``RADIOPS_RADIO_RATE``       sample rate, samples/s (required)
``RADIOPS_RADIO_GAIN``       gain, dB (optional: the device's default)
``RADIOPS_RADIO_ANTENNA``    antenna port, e.g. ``TX/RX``, ``RX2`` (optional)
``RADIOPS_RADIO_CHANNEL``    channel index on the device (default 0)
``RADIOPS_RADIO_TYPE``       the inventory's radio type: ``b210``, ``sim``...
``RADIOPS_RADIO_SERIAL``     the radio's serial
``RADIOPS_RADIO_SIMULATED``  ``true``: the simulated USRP, ``false``: a USRP
``UHD_ARGS``                 UHD device arguments
``RADIOPS_CHANNEL_TX``       emulator endpoint a simulated radio sends to
``RADIOPS_CHANNEL_TX_BIND``  where a sender that binds listens instead (GNU Radio)
``RADIOPS_CHANNEL_RX``       emulator endpoint a simulated radio receives from
========================  ====================================================
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

FREQUENCY = "RADIOPS_RADIO_FREQUENCY"
RATE = "RADIOPS_RADIO_RATE"
GAIN = "RADIOPS_RADIO_GAIN"
ANTENNA = "RADIOPS_RADIO_ANTENNA"
CHANNEL = "RADIOPS_RADIO_CHANNEL"
TYPE = "RADIOPS_RADIO_TYPE"
SERIAL = "RADIOPS_RADIO_SERIAL"
SIMULATED = "RADIOPS_RADIO_SIMULATED"
UHD_ARGS = "UHD_ARGS"
CHANNEL_TX = "RADIOPS_CHANNEL_TX"
CHANNEL_RX = "RADIOPS_CHANNEL_RX"

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})
_ENDPOINT = re.compile(r"^(tcp://[^\s/]+:[0-9]{1,5}|ipc://\S+)$")

T = TypeVar("T")


class RadioSettingsError(ValueError):
    """The environment does not describe a usable radio; the message lists every problem."""


@dataclass(frozen=True, kw_only=True)
class RadioSettings:
    """How to open and tune the role's radio."""

    frequency: float
    rate: float
    gain: float | None = None
    antenna: str | None = None
    channel: int = 0
    type: str | None = None
    serial: str | None = None
    simulated: bool = False
    uhd_args: str = ""
    channel_tx: str | None = None
    channel_rx: str | None = None

    @property
    def device_args(self) -> str:
        """UHD device arguments: ``UHD_ARGS``, else the serial, else any device."""
        if self.uhd_args:
            return self.uhd_args
        return f"serial={self.serial}" if self.serial else ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RadioSettings:
        """The settings in ``environ`` (default ``os.environ``).

        Raises RadioSettingsError naming every missing or malformed variable.
        """
        env = os.environ if environ is None else environ
        problems: list[str] = []

        def read(name: str, convert: Callable[[str], T], *, required: bool = False) -> T | None:
            text = env.get(name, "").strip()
            if not text:
                if required:
                    problems.append(
                        f"{name} is not set: give the role a radio with this setting in "
                        "experiment.yaml (radio: {frequency: ..., rate: ...})"
                    )
                return None
            try:
                return convert(text)
            except ValueError as exc:
                problems.append(f"{name}={text!r}: {exc}")
                return None

        frequency = read(FREQUENCY, _positive, required=True)
        rate = read(RATE, _positive, required=True)
        gain = read(GAIN, _finite)
        channel = read(CHANNEL, _index)
        simulated = read(SIMULATED, _boolean)
        channel_tx = read(CHANNEL_TX, _endpoint)
        channel_rx = read(CHANNEL_RX, _endpoint)
        if problems:
            raise RadioSettingsError("radio settings: " + "; ".join(problems))
        assert frequency is not None and rate is not None
        return cls(
            frequency=frequency,
            rate=rate,
            gain=gain,
            antenna=env.get(ANTENNA, "").strip() or None,
            channel=channel or 0,
            type=env.get(TYPE, "").strip() or None,
            serial=env.get(SERIAL, "").strip() or None,
            simulated=bool(simulated),
            uhd_args=env.get(UHD_ARGS, "").strip(),
            channel_tx=channel_tx,
            channel_rx=channel_rx,
        )


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("not a number") from None
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _positive(text: str) -> float:
    value = _finite(text)
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _index(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError("must be a whole number") from None
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def _boolean(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError("must be true or false")


def _endpoint(text: str) -> str:
    if not _ENDPOINT.match(text):
        raise ValueError("must be a ZeroMQ endpoint tcp://HOST:PORT or ipc://PATH")
    return text
