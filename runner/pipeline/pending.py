"""A run in progress leaves ``pending.json`` in its run directory until its manifest is written.

It holds what the manifest needs that only the runner knew (the plan, code,
trigger, images, engines) and who runs it (host, pid, the process's start
time). If the runner dies (SIGKILL, a crash, a lost machine) the record is
what ``radiops recover`` finishes the run from; a record whose runner still
lives is left alone, so two runners can share a repository and a testbed.

:class:`PendingRun` is the record: written and read here only, and checked on
read, since a runner that died may have left anything in the file.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.model.files import write_atomic
from runner.model.limits import CAPTURE_MAX_BYTES
from runner.model.manifest import CodeInfo, ImageRecord, PullRequest, Trigger
from runner.model.plan import Repetition, RunPlan
from runner.model.problems import printable
from runner.pipeline.context import RunContext

PENDING = "pending.json"
RUNNER_LABEL = "org.radiops.runner"
FORMAT = 1


class PendingDamaged(ValueError):
    """The file is not a pending record of this format: the reason, for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(printable(reason))  # it may quote the file: keep it one plain line


@dataclass(frozen=True, kw_only=True)
class RunnerIdentity:
    """Who runs a run: host, pid and the process's start time (a reused pid has another)."""

    host: str
    pid: int
    started: int | None


@dataclass(frozen=True, kw_only=True)
class PendingRun:
    """Everything ``radiops recover`` needs to record a run whose runner died."""

    run_id: str
    experiment: str
    matrix_point: Mapping[str, Any]
    parameters: Mapping[str, Any]
    overrides: Mapping[str, Any]
    seeds: Mapping[str, Any]
    repetition: Repetition | None
    queued: datetime
    scenario_path: str
    scenario_sha256: str
    code: CodeInfo
    trigger: Trigger
    actor: str
    images: tuple[ImageRecord, ...]
    inputs: tuple[Mapping[str, Any], ...]
    engines: Mapping[str, Mapping[str, Any]]  # engine facts by engine URL
    testbed_name: str
    testbed_file: str | None
    store: str
    inline_max: int
    capture_max: int = CAPTURE_MAX_BYTES
    runner: RunnerIdentity

    def to_json(self) -> str:
        """The file's text: the record's fields, ``format`` and ``runner`` beside them."""
        data = {**asdict(self), "format": FORMAT, "queued": self.queued.isoformat()}
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> PendingRun:
        """The record ``text`` holds; PendingDamaged says why it is not one."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise PendingDamaged(f"not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise PendingDamaged("not a JSON object")
        if data.get("format") != FORMAT:
            raise PendingDamaged(f"format {data.get('format')!r}, not {FORMAT}")
        try:
            return _record(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise PendingDamaged(f"a field is missing or of the wrong kind ({exc})") from None


def _record(data: Mapping[str, Any]) -> PendingRun:
    trigger, runner = _mapping(data, "trigger"), _mapping(data, "runner")
    pull = trigger.get("pull_request")
    repetition = data.get("repetition")
    return PendingRun(
        run_id=_text(data, "run_id"),
        experiment=_text(data, "experiment"),
        matrix_point=_mapping(data, "matrix_point"),
        parameters=_mapping(data, "parameters"),
        overrides=_mapping(data, "overrides"),
        seeds=_mapping(data, "seeds"),
        repetition=Repetition(**_mapping(data, "repetition")) if repetition else None,
        queued=datetime.fromisoformat(_text(data, "queued")),
        scenario_path=_text(data, "scenario_path"),
        scenario_sha256=_text(data, "scenario_sha256"),
        code=CodeInfo(**_mapping(data, "code")),
        trigger=Trigger(
            kind=_text(trigger, "kind"),
            actor=trigger.get("actor"),
            pull_request=PullRequest(**_mapping(trigger, "pull_request")) if pull else None,
        ),
        actor=_text(data, "actor"),
        images=tuple(ImageRecord(**image) for image in _list(data, "images", dict)),
        inputs=tuple(_list(data, "inputs", dict)),
        engines={url: _mapping(data["engines"], url) for url in _mapping(data, "engines")},
        testbed_name=_text(data, "testbed_name"),
        testbed_file=None if data.get("testbed_file") is None else _text(data, "testbed_file"),
        store=_text(data, "store"),
        inline_max=_integer(data, "inline_max"),
        # older records lack it
        capture_max=_integer(data, "capture_max") if "capture_max" in data else CAPTURE_MAX_BYTES,
        runner=_runner(runner),
    )


def _runner(data: Mapping[str, Any]) -> RunnerIdentity:
    return RunnerIdentity(
        host=_text(data, "host"),
        pid=_integer(data, "pid"),
        started=None if data.get("started") is None else _integer(data, "started"),
    )


def _mapping(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data[key]
    if not isinstance(value, dict):
        raise TypeError(f"{key} is not an object")
    return value


def _list(data: Mapping[str, Any], key: str, kind: type) -> list[Any]:
    value = data[key]
    if not isinstance(value, list) or not all(isinstance(item, kind) for item in value):
        raise TypeError(f"{key} is not a list of {kind.__name__}")
    return value


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a text")
    return value


def _integer(data: Mapping[str, Any], key: str) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} is not an integer")
    return value


def runner_identity() -> RunnerIdentity:
    """This process: host, pid and start time."""
    pid = os.getpid()
    return RunnerIdentity(host=socket.gethostname(), pid=pid, started=_start_time(pid))


def runner_labels(identity: RunnerIdentity) -> dict[str, str]:
    """The label naming ``identity`` on what a runner leaves on an engine only while it works
    (a dataset's fill helper), so that ``radiops recover`` can tell when it is left over."""
    return {RUNNER_LABEL: json.dumps(asdict(identity), sort_keys=True)}


def runner_of(labels: Mapping[str, str]) -> RunnerIdentity | None:
    """The runner ``runner_labels`` named; None when the labels name none readably."""
    try:
        data = json.loads(labels[RUNNER_LABEL])
        return _runner(data) if isinstance(data, dict) else None
    except (KeyError, ValueError, TypeError):
        return None


def is_alive(identity: RunnerIdentity) -> bool | None:
    """True/False for a runner of this host; None when it ran elsewhere (cannot tell)."""
    if identity.host != socket.gethostname():
        return None
    if identity.pid <= 0:
        return False
    started = _start_time(identity.pid)
    return started is not None and started == identity.started


def write_pending(run_dir: Path, record: PendingRun) -> None:
    write_atomic(run_dir / PENDING, record.to_json())


def read_pending(path: Path) -> PendingRun:
    """The record at ``path``; PendingDamaged when it is unreadable or not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PendingDamaged(f"cannot be read ({exc})") from None
    return PendingRun.from_json(text)


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def pending_record(
    plan: RunPlan, context: RunContext, run_id: str, queued: datetime, seed: int
) -> PendingRun:
    """What ``radiops recover`` needs to finish this run if the runner dies."""
    return PendingRun(
        run_id=run_id,
        experiment=plan.experiment.name,
        matrix_point=dict(plan.matrix_point),
        parameters=dict(plan.parameters),
        overrides=dict(plan.overrides),
        seeds={**plan.seeds, "channel": seed},
        repetition=plan.repetition,
        queued=queued,
        scenario_path=context.scenario_path,
        scenario_sha256=context.scenario_sha256,
        code=context.code,
        trigger=context.trigger,
        actor=context.actor,
        images=tuple(context.image_records),
        inputs=tuple(dict(item) for item in context.inputs),
        engines={url: dict(facts) for url, facts in context.engines.items()},
        testbed_name=context.testbed_name,
        testbed_file=context.testbed_file,
        store=str(context.store.root),
        inline_max=context.inline_max,
        capture_max=context.capture_max,
        runner=runner_identity(),
    )
