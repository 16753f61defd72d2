"""The testbed inventory: ``testbed.yaml``, or the local default when it is absent.

The local default is what makes ``radiops run experiments/hello`` work on a
laptop: a few virtual nodes on the local Docker engine, each with a simulated
radio.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.model.errors import UsageError
from runner.model.gpus import Gpu
from runner.model.health import HealthSpec, health_spec
from runner.model.limits import CAPTURE_MAX_BYTES, Limits, limits_from
from runner.model.loader import Read, read_checked
from runner.model.problems import Problem, ProblemsFound
from runner.model.units import parse_size
from runner.model.yamldoc import JsonPath, YamlDocument, as_list, as_mapping

TESTBED_FILE = "testbed.yaml"
LOCAL_DEFAULT_NAME = "the local default testbed"  # what runs when testbed.yaml is absent
LOCAL_NODES = ("local1", "local2", "local3")
SIMULATED_RADIO = "sim"


@dataclass(frozen=True, kw_only=True)
class Radio:
    type: str
    serial: str | None = None
    args: str | None = None
    devices: tuple[str, ...] = ()
    simulated: bool = False


@dataclass(frozen=True, kw_only=True)
class Tls:
    ca: Path
    cert: Path
    key: Path


@dataclass(frozen=True, kw_only=True)
class Node:
    name: str
    engine: str
    description: str = ""
    tls: Tls | None = None
    radios: tuple[Radio, ...] = ()
    tags: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    network: str | None = None
    capabilities: tuple[str, ...] = ()
    health: HealthSpec = field(default_factory=HealthSpec)
    gpus: tuple[Gpu, ...] = ()

    @property
    def radio_types(self) -> frozenset[str]:
        return frozenset(radio.type for radio in self.radios)


@dataclass(frozen=True, kw_only=True)
class Registry:
    address: str
    insecure: bool = False


@dataclass(frozen=True, kw_only=True)
class Artifacts:
    path: Path
    url: str | None = None
    inline_max_bytes: int = 1 << 20
    capture_max_bytes: int = CAPTURE_MAX_BYTES


@dataclass(frozen=True, kw_only=True)
class LinkSettings:
    """How a simulated transmitter on one node reaches a simulated receiver on another."""

    path_loss_db: float
    delay_samples: int = 0
    frequency_offset_hz: float = 0.0


@dataclass(frozen=True, kw_only=True)
class ChannelSettings:
    """What the channel emulator simulates between simulated radios (``channel:``)."""

    noise_floor_dbfs: float = -80.0
    path_loss_db: float = 40.0
    links: Mapping[tuple[str, str], LinkSettings] = field(default_factory=dict)

    def link(self, tx_node: str, rx_node: str) -> LinkSettings:
        """The link from ``tx_node`` to ``rx_node``: its entry, else the default path loss."""
        return self.links.get((tx_node, rx_node)) or LinkSettings(path_loss_db=self.path_loss_db)


@dataclass(frozen=True, kw_only=True)
class Testbed:
    """The nodes experiments can be placed on."""

    nodes: Mapping[str, Node]
    registry: Registry | None = None
    artifacts: Artifacts | None = None
    channel: ChannelSettings = field(default_factory=ChannelSettings)
    source: Path | None = None  # None for the local default

    @property
    def is_local_default(self) -> bool:
        return self.source is None


def local_default(*, engine: str | None = None) -> Testbed:
    """Virtual nodes with simulated radios on the local engine (``DOCKER_HOST`` or the socket)."""
    url = engine or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    nodes = {
        name: Node(
            name=name,
            engine=url,
            description="virtual node on the local engine",
            radios=(Radio(type=SIMULATED_RADIO, serial=f"SIM{index}", simulated=True),),
            tags=("local", "simulated"),
        )
        for index, name in enumerate(LOCAL_NODES, start=1)
    }
    return Testbed(nodes=nodes)


def read_testbed(
    path: Path, *, display: str | None = None, absolute_paths: bool = False
) -> Read[Testbed]:
    """Parse and check ``testbed.yaml``; never raises for bad input.

    Relative paths in it (TLS files, the artifact store) are taken from the
    file's folder. ``absolute_paths`` refuses them instead: for an inventory
    read from a trusted commit while the folder around is untrusted (CI reads
    the base's testbed.yaml in the pull request's checkout, where a relative
    path would name a file the pull request wrote).
    """
    base = path.parent
    return read_checked(
        path,
        display=display,
        schema="testbed",
        not_a_mapping="the inventory must be a mapping with a 'nodes' key",
        semantic=lambda document: _semantic_problems(document, base, absolute_paths),
        build=lambda data: _build(data, path, base),
    )


def load_testbed(root: Path) -> Testbed:
    """The repository's testbed: ``testbed.yaml`` when present, else the local default."""
    path = root / TESTBED_FILE
    if not path.exists():
        return local_default()
    _, testbed, problems = read_testbed(path)
    if testbed is None:
        raise ProblemsFound(problems)
    return testbed


def resolve_testbed(root: Path, testbed_file: Path | None, *, cwd: Path) -> tuple[Testbed, str]:
    """The testbed a command uses, and how to name it: ``--testbed FILE`` when given,
    else the repository's testbed.yaml, else the local default."""
    if testbed_file is None:
        testbed = load_testbed(root)
        return testbed, LOCAL_DEFAULT_NAME if testbed.is_local_default else TESTBED_FILE
    return testbed_option(testbed_file, cwd=cwd)


def testbed_option(testbed_file: Path, *, cwd: Path) -> tuple[Testbed, str]:
    """The testbed ``--testbed FILE`` names, and how to name it: every problem of the
    file at once (ProblemsFound), as ``radiops validate`` lists them."""
    path = testbed_file if testbed_file.is_absolute() else cwd / testbed_file
    if not path.is_file():
        raise UsageError(f"--testbed {testbed_file}: no such file")
    _, loaded, problems = read_testbed(path, display=str(testbed_file))
    if loaded is None:
        raise ProblemsFound(problems)
    return loaded, str(testbed_file)


def _semantic_problems(document: YamlDocument, base: Path, absolute: bool) -> list[Problem]:
    problems: list[Problem] = _relative_paths(document) if absolute else []
    serials: dict[str, str] = {}
    for name, node in as_mapping(document.data.get("nodes")).items():
        if not isinstance(node, dict):
            continue
        engine = node.get("engine")
        if isinstance(engine, str) and engine.startswith("tcp://") and "tls" not in node:
            message = (
                "a tcp:// engine needs a tls block (ca, cert, key): an unauthenticated "
                "Docker API gives root on the node to anyone who reaches it"
            )
            problems.append(document.problem(("nodes", name, "engine"), message))
        for key, value in as_mapping(node.get("tls")).items():
            if absolute and not _is_absolute(value):
                continue  # refused above; never looked up in the untrusted folder
            if isinstance(value, str) and not (base / value).expanduser().is_file():
                message = f"no such file: {value} (paths are relative to the testbed file)"
                problems.append(document.problem(("nodes", name, "tls", key), message))
        for i, radio in enumerate(as_list(node.get("radios"))):
            serial = as_mapping(radio).get("serial")
            if isinstance(serial, str):
                if serial in serials:
                    message = f"serial {serial} is already the radio of node {serials[serial]}"
                    problems.append(
                        document.problem(("nodes", name, "radios", i, "serial"), message)
                    )
                serials.setdefault(serial, name)
    problems += _link_problems(document)
    problems += _health_problems(document, base)
    problems += _gpu_problems(document)
    return problems


def _health_problems(document: YamlDocument, base: Path) -> list[Problem]:
    """A health experiment's folder must hold a scenario; bounds must leave room to pass."""
    problems: list[Problem] = []
    for name, node in as_mapping(document.data.get("nodes")).items():
        experiment = as_mapping(as_mapping(as_mapping(node).get("health")).get("experiment"))
        where: JsonPath = ("nodes", name, "health", "experiment")
        path = experiment.get("path")
        if isinstance(path, str) and not (base / path / "experiment.yaml").is_file():
            message = (
                f"no experiment at {path} (no experiment.yaml there; the path is relative to "
                "the testbed file's folder): give an experiment folder such as experiments/hello"
            )
            problems.append(document.problem((*where, "path"), message))
        for metric, bounds in as_mapping(experiment.get("metrics")).items():
            low, high = as_mapping(bounds).get("min"), as_mapping(bounds).get("max")
            if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
                message = f"min {low} is above max {high}: no value could pass; swap them"
                problems.append(document.problem((*where, "metrics", metric), message))
    return problems


def _gpu_problems(document: YamlDocument) -> list[Problem]:
    problems: list[Problem] = []
    for name, node in as_mapping(document.data.get("nodes")).items():
        seen: set[str] = set()
        for i, gpu in enumerate(as_list(as_mapping(node).get("gpus"))):
            gpu_id = as_mapping(gpu).get("id")
            if isinstance(gpu_id, str) and gpu_id in seen:
                message = f"GPU {gpu_id} is already listed for node {name}; each id once"
                problems.append(document.problem(("nodes", name, "gpus", i, "id"), message))
            seen.add(str(gpu_id))
    return problems


def _host_paths(document: YamlDocument) -> list[tuple[JsonPath, object]]:
    """Every path on the runner host the inventory names, with where it stands."""
    found: list[tuple[JsonPath, object]] = []
    for name, node in as_mapping(document.data.get("nodes")).items():
        for key, value in as_mapping(as_mapping(node).get("tls")).items():
            found.append((("nodes", name, "tls", key), value))
    artifacts = as_mapping(document.data.get("artifacts"))
    if "path" in artifacts:
        found.append((("artifacts", "path"), artifacts["path"]))
    return found


def _is_absolute(value: object) -> bool:
    return not isinstance(value, str) or Path(value).expanduser().is_absolute()


def _relative_paths(document: YamlDocument) -> list[Problem]:
    message = (
        "must be an absolute path (or start with ~/) on the runner host: CI reads this "
        "inventory from the base commit, and a relative path would name a file in the pull "
        "request's checkout"
    )
    return [
        document.problem(where, message)
        for where, value in _host_paths(document)
        if not _is_absolute(value)
    ]


def _link_problems(document: YamlDocument) -> list[Problem]:
    nodes = as_mapping(document.data.get("nodes"))
    problems: list[Problem] = []
    seen: dict[tuple[str, str], int] = {}
    channel = as_mapping(document.data.get("channel"))
    for i, link in enumerate(as_list(channel.get("links"))):
        link = as_mapping(link)
        for end in ("from", "to"):
            name = link.get(end)
            if isinstance(name, str) and name not in nodes:
                message = f"{name} is not a node of this testbed (nodes: {', '.join(nodes)})"
                problems.append(document.problem(("channel", "links", i, end), message))
        pair = (link.get("from"), link.get("to"))
        if all(isinstance(end, str) for end in pair):
            key = (str(pair[0]), str(pair[1]))
            if key in seen:
                message = f"the link {key[0]} -> {key[1]} is already given by links[{seen[key]}]"
                problems.append(document.problem(("channel", "links", i), message))
            seen.setdefault(key, i)
    return problems


def _build(data: dict[str, Any], path: Path, base: Path) -> Testbed:
    nodes = {name: _node(name, spec, base) for name, spec in data["nodes"].items()}
    registry = data.get("registry")
    artifacts = data.get("artifacts")
    return Testbed(
        nodes=nodes,
        registry=Registry(**registry) if registry else None,
        artifacts=Artifacts(
            path=(base / artifacts["path"]).expanduser(),
            url=artifacts.get("url"),
            inline_max_bytes=parse_size(artifacts.get("inline_max", "1M")),
            capture_max_bytes=parse_size(artifacts.get("capture_max", CAPTURE_MAX_BYTES)),
        )
        if artifacts
        else None,
        channel=_channel(data.get("channel", {})),
        source=path,
    )


def _channel(spec: dict[str, Any]) -> ChannelSettings:
    default = ChannelSettings()
    path_loss = spec.get("path_loss", default.path_loss_db)
    return ChannelSettings(
        noise_floor_dbfs=spec.get("noise_floor", default.noise_floor_dbfs),
        path_loss_db=path_loss,
        links={
            (link["from"], link["to"]): LinkSettings(
                path_loss_db=link.get("path_loss", path_loss),
                delay_samples=link.get("delay_samples", 0),
                frequency_offset_hz=link.get("frequency_offset", 0.0),
            )
            for link in spec.get("links", [])
        },
    )


def _node(name: str, spec: dict[str, Any], base: Path) -> Node:
    tls = spec.get("tls")
    return Node(
        name=name,
        engine=spec["engine"],
        description=spec.get("description", ""),
        tls=Tls(**{key: (base / value).expanduser() for key, value in tls.items()})
        if tls
        else None,
        radios=tuple(
            Radio(
                type=radio["type"],
                serial=radio.get("serial"),
                args=radio.get("args"),
                devices=tuple(radio.get("devices", ())),
                simulated=radio.get("simulated", False),
            )
            for radio in spec.get("radios", [])
        ),
        tags=tuple(spec.get("tags", ())),
        limits=limits_from(spec.get("limits", {})),
        network=spec.get("network"),
        capabilities=tuple(spec.get("capabilities", ())),
        health=health_spec(spec.get("health")),
        gpus=tuple(
            Gpu(id=str(gpu["id"]), model=gpu.get("model", "")) for gpu in spec.get("gpus", [])
        ),
    )
