"""Node health: the check a node may declare in testbed.yaml, its results, and quarantine.

Pure: the state is kept on the node's engine (``engine/health_store``), the checks are run by
``pipeline/health_check``. A node failing its check ``quarantine_after`` times in a row is
quarantined: no run is placed on it until a later check passes or an operator clears it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from runner.model.files import write_atomic

DEFAULT_QUARANTINE_AFTER = 2
HISTORY_KEPT = 20


@dataclass(frozen=True, kw_only=True)
class Bounds:
    """Pass criterion on one metric: ``min`` and/or ``max``, inclusive."""

    min: float | None = None
    max: float | None = None


@dataclass(frozen=True, kw_only=True)
class HealthExperiment:
    """A short experiment run on the node alone, judged on its metrics."""

    path: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, Bounds] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class HealthSpec:
    """A node's ``health:`` block (every node has one: the radio probe by default)."""

    probe: bool = True
    experiment: HealthExperiment | None = None
    quarantine_after: int = DEFAULT_QUARANTINE_AFTER


def health_spec(spec: Mapping[str, Any] | None) -> HealthSpec:
    """The model of a node's schema-checked ``health:`` block."""
    if not spec:
        return HealthSpec()
    declared = spec.get("experiment")
    experiment = (
        HealthExperiment(
            path=declared["path"],
            parameters={str(k): str(v) for k, v in declared.get("parameters", {}).items()},
            metrics={
                name: Bounds(min=bounds.get("min"), max=bounds.get("max"))
                for name, bounds in declared.get("metrics", {}).items()
            },
        )
        if declared
        else None
    )
    return HealthSpec(
        probe=spec.get("probe", True),
        experiment=experiment,
        quarantine_after=spec.get("quarantine_after", DEFAULT_QUARANTINE_AFTER),
    )


def judge_metrics(metrics: Mapping[str, float], criteria: Mapping[str, Bounds]) -> list[str]:
    """Why ``metrics`` miss ``criteria`` (empty when they pass)."""
    failures = []
    for name, bounds in criteria.items():
        value = metrics.get(name)
        if value is None:
            failures.append(f"metric {name} was not reported")
        elif bounds.min is not None and value < bounds.min:
            failures.append(f"{name} = {value:g}, below the minimum {bounds.min:g}")
        elif bounds.max is not None and value > bounds.max:
            failures.append(f"{name} = {value:g}, above the maximum {bounds.max:g}")
    return failures


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """One health check of one node."""

    at: str  # ISO 8601, UTC
    ok: bool
    reason: str  # what failed, or what passed


@dataclass(frozen=True, kw_only=True)
class HealthState:
    """A node's health as every runner sees it: failures in a row, quarantine, history."""

    node: str
    failures: int = 0  # in a row
    quarantined_since: str | None = None
    reason: str = ""  # the failing check's reason, while quarantined
    cleared_by: str | None = None  # the operator who last cleared a quarantine
    history: tuple[CheckResult, ...] = ()

    @property
    def quarantined(self) -> bool:
        return self.quarantined_since is not None

    @property
    def last(self) -> CheckResult | None:
        return self.history[-1] if self.history else None

    def to_json(self) -> str:
        return json.dumps(
            {
                "node": self.node,
                "failures": self.failures,
                "quarantined_since": self.quarantined_since,
                "reason": self.reason,
                "cleared_by": self.cleared_by,
                "history": [vars(item) for item in self.history],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> HealthState:
        data = json.loads(text)
        return cls(
            node=str(data["node"]),
            failures=int(data.get("failures", 0)),
            quarantined_since=data.get("quarantined_since"),
            reason=str(data.get("reason", "")),
            cleared_by=data.get("cleared_by"),
            history=tuple(CheckResult(**item) for item in data.get("history", [])),
        )


def after_check(state: HealthState, result: CheckResult, quarantine_after: int) -> HealthState:
    """``state`` once ``result`` is known: a pass rejoins, the Nth failure in a row quarantines."""
    history = (*state.history, result)[-HISTORY_KEPT:]
    if result.ok:
        return replace(state, failures=0, quarantined_since=None, reason="", history=history)
    failures = state.failures + 1
    since = state.quarantined_since
    if since is None and failures >= quarantine_after:
        since = result.at
    return replace(
        state,
        failures=failures,
        quarantined_since=since,
        reason=result.reason if since is not None else state.reason,
        history=history,
    )


def cleared(state: HealthState, *, by: str) -> HealthState:
    """``state`` after an operator's ``radiops testbed clear``: no quarantine, no failures."""
    return replace(state, failures=0, quarantined_since=None, reason="", cleared_by=by)


def quarantine_message(state: HealthState) -> str:
    """Which node, since when, why, and how to clear: for a run that needs it."""
    return (
        f"node {state.node} is quarantined since {state.quarantined_since} after "
        f"{state.failures} failed health checks in a row (last: {state.reason}); "
        f"`radiops testbed check {state.node}` lets it rejoin when its check passes, "
        f"`radiops testbed clear {state.node}` clears it by hand"
    )


def quarantined_names(states: Sequence[HealthState]) -> frozenset[str]:
    return frozenset(state.node for state in states if state.quarantined)


HEALTH_FILE = "testbed-health.json"
"""Where ``radiops testbed check --record`` writes the nodes' health for the site to show."""


def read_health_record(path: Path) -> dict[str, HealthState]:
    """The recorded health by node; empty when the file is absent or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {name: HealthState.from_json(json.dumps(item)) for name, item in data.items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def write_health_record(path: Path, states: Sequence[HealthState]) -> None:
    """Merge ``states`` into the record at ``path`` (other nodes' entries are kept)."""
    merged = read_health_record(path) | {state.node: state for state in states}
    document = {name: json.loads(merged[name].to_json()) for name in sorted(merged)}
    write_atomic(path, json.dumps(document, indent=2) + "\n")
