"""What a probe found on a node: its records, read from the probe's hostile output, and
matched against what the inventory says of the node's radios."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from runner.model.problems import printable
from runner.model.testbed import Node, Radio
from runner.model.timestamps import timestamp

OUTPUT_MAX_BYTES = 64 * 1024
MAX_DEVICES = 64
TEXT_MAX = 256
_DEVICE_TEXT = (
    "type",
    "serial",
    "product",
    "name",
    "addr",
    "motherboard",
    "fpga_version",
    "firmware_version",
    "error",
)
_DEVICE_KEYS = frozenset({*_DEVICE_TEXT, "daughterboards"})
RESULT_KEYS = frozenset({"uhd_version", "devices"})


@dataclass(frozen=True, kw_only=True)
class Device:
    """One USRP as the probe saw it; ``error`` when it was found but did not open."""

    type: str | None = None
    serial: str | None = None
    product: str | None = None
    name: str | None = None
    addr: str | None = None
    motherboard: str | None = None
    daughterboards: tuple[str, ...] = ()
    fpga_version: str | None = None
    firmware_version: str | None = None
    error: str | None = None

    def describe(self) -> str:
        """``B210 (b200, serial 31ABCDE)``."""
        model = self.product or self.motherboard or self.type or "USRP"
        details = [d for d in (self.type, f"serial {self.serial}" if self.serial else None) if d]
        if self.addr:
            details.append(f"at {self.addr}")
        return f"{model} ({', '.join(details)})" if details else model

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {key: getattr(self, key) for key in _DEVICE_TEXT}
        data["daughterboards"] = list(self.daughterboards)
        return data


@dataclass(frozen=True, kw_only=True)
class ProbeResult:
    """What one probe of one node found."""

    uhd_version: str
    devices: tuple[Device, ...]
    probed_at: dt.datetime  # aware, UTC

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: for the cache and the manifests of runs on the node."""
        return {
            "uhd_version": self.uhd_version,
            "devices": [device.as_dict() for device in self.devices],
            "probed_at": timestamp(self.probed_at),
        }

    def describe(self) -> str:
        """One line for people: ``UHD 4.3.0.0: no USRP found`` or the devices."""
        if not self.devices:
            return f"UHD {self.uhd_version}: no USRP found"
        found = "; ".join(
            device.describe() + (f": does not open: {device.error}" if device.error else "")
            for device in self.devices
        )
        return f"UHD {self.uhd_version}: {found}"


def parse_output(raw: bytes, *, probed_at: dt.datetime) -> ProbeResult:
    """The probe result in ``raw`` (the probe's stdout); ValueError saying what is wrong."""
    if len(raw) > OUTPUT_MAX_BYTES:
        raise ValueError(
            f"the probe printed more than {OUTPUT_MAX_BYTES} bytes; a probe result is far smaller"
        )
    try:
        text = raw.decode("utf-8")
        data = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"the probe's output is not one JSON object: {_short(exc)}") from None
    return result_from(data, probed_at=probed_at)


def result_from(data: Any, *, probed_at: dt.datetime) -> ProbeResult:
    """A ProbeResult from decoded JSON, each field checked; ValueError naming the first fault."""
    if not isinstance(data, dict):
        raise ValueError(f"the probe's output is a JSON {_kind(data)}, not an object")
    _exact_keys(data, RESULT_KEYS, "the probe result")
    devices = data["devices"]
    if not isinstance(devices, list):
        raise ValueError(f"devices: a {_kind(devices)}, not a list")
    if len(devices) > MAX_DEVICES:
        raise ValueError(f"devices: {len(devices)} of them, more than {MAX_DEVICES}")
    return ProbeResult(
        uhd_version=_text(data["uhd_version"], "uhd_version", optional=False) or "",
        devices=tuple(_device(item, index) for index, item in enumerate(devices)),
        probed_at=probed_at,
    )


def _device(item: Any, index: int) -> Device:
    where = f"devices[{index}]"
    if not isinstance(item, dict):
        raise ValueError(f"{where}: a {_kind(item)}, not an object")
    _exact_keys(item, _DEVICE_KEYS, where)
    boards = item["daughterboards"]
    if not isinstance(boards, list) or len(boards) > MAX_DEVICES:
        raise ValueError(f"{where}.daughterboards: not a list of at most {MAX_DEVICES} texts")
    fields = {key: _text(item[key], f"{where}.{key}") for key in _DEVICE_TEXT}
    return Device(
        **fields,
        daughterboards=tuple(
            _text(board, f"{where}.daughterboards[{i}]", optional=False) or ""
            for i, board in enumerate(boards)
        ),
    )


def _text(value: Any, where: str, *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        wanted = "a text or null" if optional else "a non-empty text"
        raise ValueError(f"{where}: {_kind(value)} where {wanted} belongs")
    if len(value) > TEXT_MAX:
        raise ValueError(f"{where}: {len(value)} characters, more than {TEXT_MAX}")
    if not value.isprintable():
        raise ValueError(f"{where}: contains characters that are not printable")
    return value


def _exact_keys(data: dict[str, Any], wanted: frozenset[str], where: str) -> None:
    missing, unknown = sorted(wanted - data.keys()), sorted(data.keys() - wanted)
    if missing or unknown:
        parts = [f"missing {', '.join(missing)}"] if missing else []
        if unknown:
            shown = ", ".join(json.dumps(key)[:40] for key in unknown[:5])
            parts.append(f"unknown {shown}")
        raise ValueError(f"{where}: {'; '.join(parts)}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise ValueError(f"the key {json.dumps(key)[:40]} appears twice")
        data[key] = value
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _kind(value: Any) -> str:
    kinds = {dict: "object", list: "list", str: "text", bool: "boolean", type(None): "null"}
    return kinds.get(type(value), "number")


def _short(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return printable(str(exc))[:200]


def compare(node: Node, result: ProbeResult) -> list[str]:
    """What is wrong with ``node``'s radios as probed: one message per problem.

    Each radio the inventory lists that is not simulated needs a device of its own:
    the one with its serial, else (no serial listed) one of its type. Simulated
    radios need nothing.
    """
    problems: list[str] = []
    available = list(result.devices)
    real = [radio for radio in node.radios if not radio.simulated]
    # radios with a serial first: a radio listed by type only must not take their device
    for radio in sorted(real, key=lambda radio: radio.serial is None):
        label = _label(radio)
        device = match_device(radio, available)
        if device is None:
            found = (
                "found no USRP"
                if not result.devices
                else "found only " + ", ".join(d.describe() for d in result.devices)
            )
            problems.append(f"node {node.name}: testbed.yaml lists {label} but the probe {found}")
            continue
        available.remove(device)
        if device.error:
            problems.append(
                f"node {node.name}: {label} was found ({device.describe()}) but does not "
                f"open: {device.error}"
            )
        elif radio.serial and not _same_type(radio, device):
            problems.append(
                f"node {node.name}: testbed.yaml lists {label}, but the device with that "
                f"serial is a {device.describe()}"
            )
    return problems


def _label(radio: Radio) -> str:
    return f"a {radio.type} radio" + (f" (serial {radio.serial})" if radio.serial else "")


def match_device(radio: Radio, devices: Iterable[Device]) -> Device | None:
    """The probed device that is ``radio``: by serial when it has one, else by type."""
    for device in devices:
        if radio.serial:
            if device.serial and device.serial.lower() == radio.serial.lower():
                return device
        elif _same_type(radio, device):
            return device
    return None


def _same_type(radio: Radio, device: Device) -> bool:
    """``b210`` is a B210 (UHD: type b200, product B210); ``x310`` is a X310 (type x300)."""
    names = {name.lower() for name in (device.type, device.product, device.motherboard) if name}
    return radio.type.lower() in names
