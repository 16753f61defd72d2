"""What the runs of one ``radiops run`` share, what each gives back, and the nodes held."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.engine.artifacts import ArtifactStore
from runner.engine.medium import EmulatorImage
from runner.engine.node import NodeEngine
from runner.engine.probe_result import ProbeResult
from runner.model.limits import CAPTURE_MAX_BYTES
from runner.model.manifest import CodeInfo, ImageRecord, Trigger
from runner.model.report import Reporter
from runner.model.testbed import ChannelSettings, Node


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
    clients: Mapping[str, NodeEngine]  # by engine URL
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
