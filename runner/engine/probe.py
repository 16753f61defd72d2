"""Radio probing: which USRPs a node's containers really see, against ``testbed.yaml``.

:func:`probe_node` runs ``radiops-probe`` (images/sdr-base) in a short container on
the node's engine, with exactly what a run's container of that node would get: the
radios' device paths, the node's network grant (none unless it grants one: a
network-attached USRP needs it), dropped capabilities, no new privileges, limits.
The probe uses the real UHD inside the container, so the host needs no UHD.

Its output is treated as hostile (the image may come from a pull request): read
up to :data:`OUTPUT_MAX_BYTES`, parsed as strict JSON, every field checked by hand.

:func:`compare` names each radio the inventory lists that the probe did not find.
:class:`ProbeCache` keeps results per node for a while, so every run need not probe.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions

from runner.engine.engines import ENGINE_CALL_ERRORS
from runner.engine.execute import radio_environment
from runner.engine.hardening import hardened
from runner.model.errors import EnvironmentProblem
from runner.model.files import write_atomic
from runner.model.problems import printable
from runner.model.remotes import without_credentials
from runner.model.testbed import Node, Radio
from runner.model.timestamps import parse_timestamp, timestamp

PROBE_COMMAND = "/usr/local/bin/radiops-probe"
LABEL_PROBE = "org.radiops.probe"  # the node's name
OUTPUT_MAX_BYTES = 64 * 1024
STDERR_TAIL_BYTES = 2000
MAX_DEVICES = 64
TEXT_MAX = 256
DEFAULT_TIMEOUT_S = 60.0
#: one device's time to open (a B2xx loads its FPGA image), within the container's timeout
OPEN_TIMEOUT_S = 20.0
PROBE_LIMITS: Mapping[str, Any] = {
    "mem_limit": 256 * 1024 * 1024,
    "memswap_limit": 256 * 1024 * 1024,
    "pids_limit": 256,  # UHD's device drivers start threads; they count
    "nano_cpus": 1_000_000_000,
}
CACHE_FORMAT = 1

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
_RESULT_KEYS = frozenset({"uhd_version", "devices"})


class ProbeFailed(EnvironmentProblem):
    """The probe could not run on a node, or what it printed is not a probe result."""


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


# -- running the probe ------------------------------------------------------------------


def probe_options(
    node: Node, image_ref: str, *, labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Keyword arguments of ``containers.create`` for the probe on ``node``."""
    arguments = ["--open-timeout", str(OPEN_TIMEOUT_S)]
    for radio in node.radios:
        if radio.args and not radio.simulated:
            arguments += ["--args", radio.args]
    devices = [path for radio in node.radios for path in radio.devices]
    # a simulated radio is found as a run's role finds it: libuhd's simulated USRP
    simulated = [radio for radio in node.radios if radio.simulated]
    environment = (
        {"RADIOPS_NODE": node.name, **radio_environment(simulated[0])} if simulated else {}
    )
    return {
        **hardened(capabilities=node.capabilities, devices=devices),
        "image": image_ref,
        "entrypoint": [PROBE_COMMAND],
        "command": arguments,
        "environment": environment,
        "labels": {**(labels or {}), LABEL_PROBE: node.name},
        "detach": True,
        "network_mode": node.network or "none",
        "read_only": True,
        "tmpfs": {"/tmp": "rw,nosuid,nodev,size=16m,mode=1777"},  # noqa: S108 (container's own)
        **PROBE_LIMITS,
    }


def probe_node(
    client: docker.DockerClient,
    node: Node,
    image_ref: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    labels: Mapping[str, str] | None = None,
) -> ProbeResult:
    """Run the probe in ``image_ref`` (already on the node's engine) on ``node``.

    The container is removed afterwards whatever happens. Raises ProbeFailed when
    the probe cannot run, fails, takes longer than ``timeout_s``, or prints
    something that is not a probe result.
    """
    where = f"node {node.name}"
    try:
        container = client.containers.create(**probe_options(node, image_ref, labels=labels))
    except docker.errors.ImageNotFound:
        raise ProbeFailed(
            f"{where}: the probe image {image_ref} is not on its engine; pull it first "
            "(images/sdr-base, pushed to the testbed registry and pulled by digest)"
        ) from None
    except ENGINE_CALL_ERRORS as exc:
        raise ProbeFailed(
            f"{where}: cannot create the probe container: {_engine_error(exc)}"
        ) from None
    try:
        container.start()
        try:
            status = container.wait(timeout=timeout_s)
        except (requests.exceptions.Timeout, requests.exceptions.ConnectionError):
            raise ProbeFailed(
                f"{where}: the probe did not finish within {timeout_s:g} s "
                f"(engine {without_credentials(node.engine)})"
            ) from None
        code = int(status.get("StatusCode", -1))
        if code != 0:
            raise ProbeFailed(
                f"{where}: the probe exited with status {code}"
                + _tail(_read_stream(container, stdout=False, limit=1 << 20)[-STDERR_TAIL_BYTES:])
            )
        output = _read_stream(container, stdout=True, limit=OUTPUT_MAX_BYTES + 1)
        try:
            return parse_output(output, probed_at=dt.datetime.now(dt.UTC))
        except ValueError as exc:
            raise ProbeFailed(f"{where}: {exc}") from None
    except ENGINE_CALL_ERRORS as exc:
        # APIError is a requests HTTPError: an answer, not silence
        raise ProbeFailed(f"{where}: the probe container failed: {_engine_error(exc)}") from None
    finally:
        # when the engine stops answering, the label names the leftover
        with contextlib.suppress(*ENGINE_CALL_ERRORS):
            container.remove(force=True, v=True)


def engine_id(client: docker.DockerClient) -> str:
    """The engine's own ID (``docker info``): it changes when the node is reinstalled."""
    try:
        return str(client.info()["ID"])
    except (*ENGINE_CALL_ERRORS, KeyError) as exc:
        raise ProbeFailed(f"the engine does not say its ID: {exc}") from None


def _read_stream(container: Any, *, stdout: bool, limit: int) -> bytes:
    """Up to ``limit`` bytes of the container's stdout (or stderr); never more in memory."""
    kept: deque[bytes] = deque()
    size = 0
    for chunk in container.logs(stdout=stdout, stderr=not stdout, stream=True, follow=False):
        kept.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(kept)[:limit]


def _tail(raw: bytes) -> str:
    text = printable(raw.decode("utf-8", "replace").strip())
    return f"; its last words: {text}" if text else " and printed nothing on stderr"


def _engine_error(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None)
    return printable(str(explanation or exc))


# -- parsing its output (hostile) -----------------------------------------------------


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
    _exact_keys(data, _RESULT_KEYS, "the probe result")
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


# -- against the inventory ------------------------------------------------------------


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


# -- the cache --------------------------------------------------------------------------


def inventory_sha256(node: Node) -> str:
    """A hash of what the inventory says that shapes a probe of ``node``."""
    described = {
        "engine": without_credentials(node.engine),
        "network": node.network,
        "capabilities": sorted(node.capabilities),
        "radios": [
            {
                "type": radio.type,
                "serial": radio.serial,
                "args": radio.args,
                "devices": list(radio.devices),
                "simulated": radio.simulated,
            }
            for radio in node.radios
        ],
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


class ProbeCache:
    """Probe results per node in a JSON file, valid while the node is unchanged.

    An entry counts for the node of that name only while its engine has the same
    ID and its inventory entry the same hash, and for ``max_age_s`` seconds. The
    file is a cache: an unreadable one is treated as empty and rewritten.
    """

    def __init__(self, path: Path, *, within: Path | None = None) -> None:
        self.path = path
        self.within = within  # trusted; no link below it is followed (the repository)

    def get(
        self,
        node: Node,
        *,
        engine_id: str,
        probe_image: str,
        max_age_s: float,
        now: dt.datetime | None = None,
    ) -> ProbeResult | None:
        """The cached result for ``node``, or None when there is none still valid.

        Valid means: the same engine, the same inventory entry, the same probe
        image (a rebuilt image, e.g. a newer UHD, probes again), young enough.
        """
        entry = self._entries().get(node.name)
        if not isinstance(entry, dict):
            return None
        if (
            entry.get("engine_id") != engine_id
            or entry.get("inventory") != inventory_sha256(node)
            or entry.get("probe_image") != probe_image
        ):
            return None
        try:
            result = entry["result"]
            probed_at = _parse_utc(result["probed_at"])
            cached = result_from(
                {key: result[key] for key in _RESULT_KEYS if key in result}, probed_at=probed_at
            )
        except (KeyError, TypeError, ValueError):
            return None
        age = ((now or dt.datetime.now(dt.UTC)) - probed_at).total_seconds()
        return cached if 0 <= age <= max_age_s else None

    def put(self, node: Node, *, engine_id: str, probe_image: str, result: ProbeResult) -> None:
        """Keep ``result`` as ``node``'s latest probe (made with ``probe_image``)."""
        entries = self._entries()
        entries[node.name] = {
            "engine_id": engine_id,
            "probe_image": probe_image,
            "inventory": inventory_sha256(node),
            "result": result.as_dict(),
        }
        if self.within is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"format": CACHE_FORMAT, "nodes": entries}, indent=2, sort_keys=True)
        write_atomic(self.path, text + "\n", within=self.within)

    def _entries(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
            return {}
        nodes = data.get("nodes")
        return nodes if isinstance(nodes, dict) else {}


def _parse_utc(text: Any) -> dt.datetime:
    if not isinstance(text, str):
        raise ValueError("probed_at is not a text")
    moment = parse_timestamp(text)
    if moment is None:
        raise ValueError("probed_at is not an RFC 3339 UTC time")
    return moment
