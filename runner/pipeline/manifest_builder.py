"""The result manifest, assembled from what the run did: the containers as Docker
reports them, the probes, the placements (the records: runner/model/manifest.py)."""

from __future__ import annotations

import platform
import shlex
import socket
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from runner import __version__
from runner.engine.datasets import dataset_records
from runner.engine.engine_kind import kind_of
from runner.engine.execute import Ended, Placed, Supervision, Usage
from runner.engine.gpus import granted_gpus
from runner.engine.probe_result import ProbeResult, match_device
from runner.model.manifest import SCHEMA_VERSION, CodeInfo, ImageRecord, Outcome, Trigger
from runner.model.plan import Instance, RunPlan
from runner.model.radio_report import DEVICE, DeviceReport
from runner.model.schedule import radio_for
from runner.model.testbed import Radio
from runner.model.timestamps import docker_time, timestamp


def decide_outcome(placed: Sequence[Placed], state: Supervision, *, error: str | None) -> Outcome:
    """succeeded only when every container ended well; otherwise the first reason that applies."""
    codes: dict[str, int | None] = {}
    failures = []
    oom = []
    for item in placed:
        attrs = item.container.attrs.get("State", {})
        ended = state.ended.get(item.instance, Ended(status="error"))
        code = attrs.get("ExitCode") if ended.status == "exited" else None
        codes[item.instance.key] = code
        if attrs.get("OOMKilled"):
            oom.append(item.instance.key)
        if ended.status == "exited" and not ended.stopped_at_end and code not in (0, None):
            failures.append(f"{item.instance.key} on {item.node.name} exited with code {code}")
    if state.cancelled:
        reason = f"cancelled ({state.cancelled}) before the run finished"
        return Outcome(status="cancelled", reason=reason, exit_codes=codes)
    if error is not None:
        return Outcome(status="error", reason=error, exit_codes=codes, error=error)
    if state.timed_out:
        late = [i.key for i, e in state.ended.items() if e.status == "timeout"]
        reason = f"{', '.join(late)} still ran at the hard timeout and were killed"
        return Outcome(status="timeout", reason=reason, exit_codes=codes, timed_out=True)
    if oom:
        reason = f"{', '.join(oom)} ran out of memory (killed at the memory limit)"
        return Outcome(status="failed", reason=reason, exit_codes=codes)
    if failures:
        return Outcome(status="failed", reason="; ".join(failures), exit_codes=codes)
    reason = "every container ended with exit code 0 or at the end of the duration"
    return Outcome(status="succeeded", reason=reason, exit_codes=codes)


def reproduce_command(plan: RunPlan, run_id: str, *, testbed_file: str | None) -> str:
    """The command that re-runs this run from its manifest and judges the result."""
    words = ["radiops", "reproduce", f"experiments/{plan.experiment.name}", "--run", run_id]
    if testbed_file:
        words += ["--testbed", testbed_file]
    return shlex.join(words)


def engine_facts(url: str, info: Mapping[str, Any], version: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "url": url,
        "id": info.get("ID", ""),
        "name": info.get("Name", ""),
        "arch": info.get("Architecture", ""),
        "os": info.get("OperatingSystem", ""),
        "kernel": info.get("KernelVersion", ""),
        "docker_version": info.get("ServerVersion", ""),
        "api_version": version.get("ApiVersion", ""),
        "kind": kind_of(version),
        "cpus": int(info.get("NCPU", 0)),
        "memory_bytes": int(info.get("MemTotal", 0)),
    }


@dataclass(frozen=True, kw_only=True)
class ManifestInputs:
    """Everything a run's manifest is assembled from."""

    run_id: str
    plan: RunPlan
    scenario_path: str
    scenario_sha256: str
    code: CodeInfo
    trigger: Trigger
    actor: str
    images: Sequence[ImageRecord]
    inputs: Sequence[Mapping[str, Any]]
    placed: Sequence[Placed]
    engines: Mapping[str, Mapping[str, Any]]
    state: Supervision
    queued: datetime
    outcome: Outcome
    outputs: Sequence[Mapping[str, Any]]
    logs: Sequence[Mapping[str, Any]]
    metrics: Mapping[str, float]
    testbed_name: str
    testbed_file: str | None
    seeds: Mapping[str, int] | None = None
    channel: Mapping[str, Any] | None = None
    probes: Mapping[str, ProbeResult] | None = None
    devices: Mapping[Instance, DeviceReport] | None = None


def build_manifest(given: ManifestInputs) -> dict[str, Any]:
    """The manifest as a JSON-ready dict (checked against the schema by ``write_manifest``)."""
    plan, state, placed = given.plan, given.state, given.placed
    by_instance = {item.instance: item for item in placed}
    manifest: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": given.run_id,
        "experiment": {
            "name": plan.experiment.name,
            "title": plan.experiment.title,
            "scenario_path": given.scenario_path,
            "scenario_sha256": given.scenario_sha256,
            "matrix_point": dict(plan.matrix_point),
        },
        "code": _code(given.code, given.trigger),
        "images": [asdict(record) for record in given.images],  # fields = manifest keys
        "parameters": dict(plan.parameters),
        "seeds": dict(given.seeds or {}),
        **({"repetition": plan.repetition.record()} if plan.repetition else {}),
        "inputs": list(given.inputs),
        "placements": [
            _placement(
                plan,
                item,
                given.engines[item.node.engine],
                (given.probes or {}).get(item.node.name),
                (given.devices or {}).get(item.instance),
            )
            for item in by_instance.values()
        ],
        "radios_simulated": all(
            radio.simulated for item in placed for radio in item.node.radios
        ),  # True too when no radio was used: nothing real was on the air
        "trigger": _trigger(given.code, given.trigger, given.actor),
        "timing": _timing(state, given.queued),
        "containers": [
            _container(item, state.ended.get(item.instance), state.usage.get(item.instance))
            for item in placed
        ],
        "outcome": _outcome(given.outcome),
        "outputs": list(given.outputs),
        "metrics": dict(given.metrics),
        "logs": list(given.logs),
        "runner": {
            "version": __version__,
            "python": platform.python_version(),
            "host": _hostname(),
            "platform": platform.platform(),
        },
        "reproduce": {
            "command": reproduce_command(plan, given.run_id, testbed_file=given.testbed_file),
            "testbed": given.testbed_name,
        },
    }
    if given.channel is not None:
        manifest["channel"] = dict(given.channel)
    return manifest


def _code(code: CodeInfo, trigger: Trigger) -> dict[str, Any]:
    return {
        "repository": code.repository,
        "commit": code.commit,
        "branch": code.branch,
        "pull_request": {
            "number": trigger.pull_request.number,
            "title": trigger.pull_request.title,
            "url": trigger.pull_request.url,
        }
        if trigger.pull_request
        else None,
        "dirty": code.dirty,
    }


def _trigger(code: CodeInfo, trigger: Trigger, actor: str) -> dict[str, Any]:
    return {
        "kind": trigger.kind,
        "actor": trigger.actor or actor,
        "author": {"name": code.author_name, "email": code.author_email} if code.commit else None,
        "commit_message": code.commit_message,
        "pull_request_title": trigger.pull_request.title if trigger.pull_request else None,
    }


def _timing(state: Supervision, queued: datetime) -> dict[str, Any]:
    finished = state.finished or queued
    started = state.started
    return {
        "queued": timestamp(queued),
        "started": timestamp(started),
        "finished": timestamp(finished),
        "duration_s": round((finished - started).total_seconds(), 3) if started else None,
    }


def _outcome(outcome: Outcome) -> dict[str, Any]:
    return {
        "status": outcome.status,
        "reason": outcome.reason,
        "exit_codes": dict(outcome.exit_codes),
        "timed_out": outcome.timed_out,
        "error": outcome.error,
    }


def _placement(
    plan: RunPlan,
    item: Placed,
    engine: Mapping[str, Any],
    probe: ProbeResult | None,
    device: DeviceReport | None,
) -> dict[str, Any]:
    role = plan.experiment.roles[item.instance.role]
    radio = radio_for(role, item.node) if role.radio is not None else None
    return {
        "role": item.instance.role,
        "index": item.instance.index,
        "node": item.node.name,
        "engine": dict(engine),
        "radio": radio_entry(radio, probe, device) if radio else None,
        "devices": list(radio.devices) if radio else [],
        "gpus": granted_gpus(item.container.attrs),
        "datasets": dataset_records(role),
    }


def radio_entry(
    radio: Radio, probe: ProbeResult | None, device: DeviceReport | None = None
) -> dict[str, Any]:
    """The placement's radio: the inventory's word, what the probe found for a real one,
    and for a simulated one the libuhd the application opened it with (``device``)."""
    entry: dict[str, Any] = {
        "type": radio.type,
        "serial": radio.serial,
        "simulated": radio.simulated,
    }
    if radio.args:
        entry["args"] = radio.args
    if radio.simulated and device is not None:
        entry["uhd_device"] = DEVICE
        entry["uhd_version"] = device.uhd_version
        entry["uhd_abi"] = device.uhd_abi
    found = match_device(radio, probe.devices) if probe and not radio.simulated else None
    if probe is not None and found is not None:
        entry["uhd_version"] = probe.uhd_version
        entry["probed_at"] = probe.as_dict()["probed_at"]
        entry["serial"] = found.serial or radio.serial
        for key in ("motherboard", "fpga_version", "firmware_version"):
            if getattr(found, key):
                entry[key] = getattr(found, key)
        if found.daughterboards:
            entry["daughterboards"] = list(found.daughterboards)
    return entry


def _container(item: Placed, ended: Ended | None, usage: Usage | None) -> dict[str, Any]:
    state = item.container.attrs.get("State", {})
    status = ended.status if ended else "error"
    return {
        "role": item.instance.role,
        "index": item.instance.index,
        "node": item.node.name,
        "container_id": item.container.id,
        "image_digest": item.image_id,
        "command": list(item.command),
        "started": docker_time(state.get("StartedAt")),
        "finished": docker_time(state.get("FinishedAt")),
        "exit_code": state.get("ExitCode") if status == "exited" else None,
        "oom_killed": bool(state.get("OOMKilled")),
        "status": status,
        "resources": {
            "cpu_seconds": round(usage.cpu_seconds, 3),
            "memory_peak_bytes": usage.memory_peak_bytes,
            "pids_peak": usage.pids_peak,
        }
        if usage
        else None,
    }


def _hostname() -> str:
    name = socket.gethostname().split(".")[0] or "localhost"
    return "".join(c if c.isalnum() or c == "-" else "-" for c in name).strip("-") or "localhost"
