"""What a run leaves in its containers, copied out once they have exited: logs, the
output folder, files changed elsewhere (``docker diff``), metrics, the simulated radio's report."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runner.engine.artifacts import ArtifactStore
from runner.engine.capture import Capture, NotReadable, capture_tree, read_small_file
from runner.engine.container_logs import stream_logs
from runner.engine.container_spec import OUTPUT_DIR
from runner.engine.engine_kind import DOCKER, INJECTED
from runner.engine.execute import Placed
from runner.engine.member_gate import CaptureBudget, CaptureLimits, path_problem
from runner.engine.node import NodeContainer
from runner.model.plan import Instance, RunPlan
from runner.model.radio_report import MAX_BYTES, RADIO_REPORT, BadReport, DeviceReport, parse_report
from runner.model.schedule import uses_simulated_radio
from runner.model.sigmf import META_MAX_BYTES
from runner.model.units import finite_number
from runner.pipeline.context import RunContext
from runner.pipeline.outputs import output_path

METRICS_MAX_BYTES = 1 << 20
METRIC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,100}$")  # the manifest's rule, with room
MAX_CHANGE_ROOTS = 100


def capture_changes(
    item: Placed, run_dir: Path, context: RunContext, limits: CaptureLimits, budget: CaptureBudget
) -> tuple[list[dict[str, Any]], list[str]]:
    """Files the container added or changed outside /radiops (CorteXlab's results model).

    On Docker's overlay2 the ``docker diff`` walks the whole image whatever changed
    (moby/moby#39428); the engine holds the container meanwhile, so asking for it
    alongside the other copies gains nothing.
    """
    outputs: list[dict[str, Any]] = []
    refused: list[str] = []
    diff = item.container.diff() or []
    kind = context.engines.get(item.node.engine, {}).get("kind", DOCKER)
    roots = change_roots(diff, INJECTED[kind])
    directories = {posixpath.dirname(str(d["Path"])) for d in diff}
    if len(roots) > MAX_CHANGE_ROOTS:
        refused.append(
            f"{len(roots) - MAX_CHANGE_ROOTS} changed paths beyond the first "
            f"{MAX_CHANGE_ROOTS} were not kept"
        )
    for root in roots[:MAX_CHANGE_ROOTS]:
        # a root with entries below it in the diff is a directory (an added tree)
        base = root if root in directories else posixpath.dirname(root)
        relative_base = base.strip("/")
        problem = path_problem(root.strip("/"))
        if problem:  # the container named a folder no run directory can hold
            refused.append(f"changed path {problem}")
            continue
        capture = capture_tree(
            item.container,
            root,
            run_dir=run_dir,
            prefix="/".join(filter(None, ("changes", item.instance.slug, relative_base))),
            store=context.store,
            inline_max=context.inline_max,
            limits=limits,
            budget=budget,
        )
        refused += list(capture.refused)
        for captured in capture.files:
            record = _output(item, captured)
            record["path"] = "/".join(filter(None, (relative_base, captured.path)))
            record["origin"] = "changed"
            outputs.append(record)
    return outputs, refused


def change_roots(
    diff: Sequence[Mapping[str, Any]], injected: frozenset[str] = INJECTED[DOCKER]
) -> list[str]:
    """The fewest paths whose copies hold every change ``docker diff`` reports, nothing else.

    A topmost added path is new with everything under it; a changed path with
    nothing below it in the diff is a modified file. Changed directories are
    never copied whole (they hold unchanged files), nor are radiops' own
    /radiops and what the engine injects (``injected``: engine_kind.INJECTED).
    """
    added = {str(d["Path"]) for d in diff if d.get("Kind") == 1}
    changed = {str(d["Path"]) for d in diff if d.get("Kind") == 0}
    # a directory changed only by deletions below it is a parent too, not a modified file
    parents = {posixpath.dirname(str(d["Path"])) for d in diff}
    roots = {p for p in added if posixpath.dirname(p) not in added}
    roots |= {p for p in changed if p not in parents}
    return sorted(p for p in roots if p not in injected and not _ours(p))


def _ours(path: str) -> bool:
    return path == "/radiops" or path.startswith("/radiops/")


@dataclass(kw_only=True)
class Collected:
    outputs: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    metrics: dict[str, float] | None = None  # None: it wrote no metrics file
    device: DeviceReport | None = None  # a simulated USRP opened through libuhd


def read_output(output: Mapping[str, Any], run_dir: Path, store: ArtifactStore) -> bytes:
    """The first META_MAX_BYTES + 1 bytes of a captured output, inline or in the store."""
    with output_path(output, run_dir, store).open("rb") as handle:
        return handle.read(META_MAX_BYTES + 1)


def merge_metrics(written: Mapping[Instance, Mapping[str, float]]) -> dict[str, float]:
    """The run's metrics: as written when one container wrote them, else ``role.index.name``."""
    if len(written) == 1:
        return dict(next(iter(written.values())))
    return {
        f"{instance.role}.{instance.index}.{name}": value
        for instance, values in sorted(written.items(), key=lambda kv: (kv[0].role, kv[0].index))
        for name, value in values.items()
    }


def collect(item: Placed, plan: RunPlan, run_dir: Path, context: RunContext) -> Collected:
    """One container's logs, outputs, changed files and metrics (it has exited)."""
    found = Collected()
    item.container.reload()
    if item.container.status == "created":
        found.warnings.append(f"{item.instance.key}: never started; nothing to copy")
        return found
    copied = _logs_and_outputs(item, run_dir, context, found)
    changed, refused = capture_changes(item, run_dir, context, copied.limits, copied.budget)
    found.outputs += changed
    found.warnings += [f"{item.instance.key}: {message}" for message in refused]
    if plan.experiment.metrics:
        found.metrics, problem = _metrics(run_dir, copied.capture, plan.experiment.metrics)
        if problem:
            found.warnings.append(f"{item.instance.key}: {problem}")
    if uses_simulated_radio(plan.experiment.roles[item.instance.role], item.node):
        try:
            found.device = device_report(item.container)
        except BadReport as exc:
            found.warnings.append(f"{item.instance.key}: simulated USRP report refused: {exc}")
    return found


@dataclass(frozen=True, kw_only=True)
class _Copied:
    """The output folder's copy, and the limits what is copied next still counts against."""

    capture: Capture
    limits: CaptureLimits
    budget: CaptureBudget


def _logs_and_outputs(
    item: Placed, run_dir: Path, context: RunContext, found: Collected
) -> _Copied:
    """Copy the container's logs and output folder into ``found``."""
    slug = item.instance.slug
    for log in stream_logs(item.container, run_dir=run_dir, prefix=f"logs/{slug}"):
        found.logs.append({"role": item.instance.role, "index": item.instance.index, **asdict(log)})
    budget = CaptureBudget()  # one for everything copied out of this container
    limits = CaptureLimits(max_total_bytes=context.capture_max)
    capture = capture_tree(
        item.container,
        OUTPUT_DIR,
        run_dir=run_dir,
        prefix=f"outputs/{slug}",
        store=context.store,
        inline_max=context.inline_max,
        limits=limits,
        budget=budget,
    )
    found.warnings += [f"{item.instance.key}: {message}" for message in capture.refused]
    found.outputs += [_output(item, captured) for captured in capture.files]
    return _Copied(capture=capture, limits=limits, budget=budget)


def device_report(container: NodeContainer) -> DeviceReport | None:
    """What the simulated USRP reported; None when no application opened it through libuhd."""
    try:
        data = read_small_file(container, RADIO_REPORT, MAX_BYTES)
    except NotReadable as exc:
        raise BadReport(str(exc)) from None
    return None if data is None else parse_report(data)


def _output(item: Placed, captured: Any) -> dict[str, Any]:
    return {
        "path": captured.path,
        "role": item.instance.role,
        "index": item.instance.index,
        "size": captured.size,
        "sha256": captured.sha256,
        "media_type": captured.media_type,
        "storage": {"kind": captured.storage_kind, "location": captured.location},
        "sigmf": None,
    }


def _metrics(
    run_dir: Path, capture: Capture, name: str
) -> tuple[dict[str, float] | None, str | None]:
    """The container's metrics (None when it wrote no file), and what was wrong with them."""
    found = next((f for f in capture.files if f.path == name), None)
    if found is None:
        return None, None
    if found.storage_kind != "inline" or found.size > METRICS_MAX_BYTES:
        return {}, f"metrics file {name} is {found.size} bytes; at most {METRICS_MAX_BYTES}"
    try:
        data = json.loads((run_dir / found.location).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {}, f"metrics file {name} is not JSON: {exc}"
    if not isinstance(data, dict):
        return {}, f"metrics file {name} must hold an object of name: number"
    numbers = {k: finite_number(v) for k, v in data.items() if METRIC_NAME.match(k)}
    good = {k: v for k, v in numbers.items() if v is not None}
    skipped = sorted(repr(k)[:40] for k in data if k not in good)[:10]
    problem = (
        f"metrics {', '.join(skipped)} skipped: a metric is a name (letters, digits, '_', '.', "
        "'-') and a finite number"
        if skipped
        else None
    )
    return good, problem
