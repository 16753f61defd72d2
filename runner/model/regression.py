"""Did a change move a metric? A new run's metrics against the base branch's runs of its point.

Pure: the caller (runner/gitops/base_runs.py) hands in the new run's manifest and
the base commit's manifests of the same experiment, read from git and checked
against the schema. No git, Docker or file reads here.

The base runs of a point: the base's succeeded runs of the same experiment with an
equal ``experiment.matrix_point`` (parameters may differ: changing a default is
the kind of change this is meant to judge; differing ones are listed). The
latest of them is the yardstick; when it belongs to a group of repeated runs
(``repetition.group``), the whole group is, by its mean and the 95% confidence
interval of that mean.

A metric is judged by the scenario's ``reproduce.metrics`` tolerance (as
``radiops reproduce`` does: the larger of ``absolute`` and ``relative`` times |base|),
or for repeated base runs by their interval. ``better: higher|lower`` names a
change beyond it a regression or an improvement; without it, only a change.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runner.model.experiment import Tolerance
from runner.model.stats import Summary, summarize, welch_difference

WITHIN = "within"
REGRESSION = "regression"
IMPROVEMENT = "improvement"
BEYOND = "beyond"  # beyond the tolerance, and the scenario says no better direction
UNJUDGED = "unjudged"  # no tolerance for this metric
NOT_COMPARABLE = "not comparable"  # a value that is not a finite number
ADDED = "added"  # no base value
MISSING = "missing"  # no new value
FLAGGED = (REGRESSION, IMPROVEMENT, BEYOND, MISSING)

Scalar = str | int | float | bool | None


@dataclass(frozen=True, kw_only=True)
class MetricChange:
    name: str
    base: Any  # as recorded: a number, or what stood there instead (None: absent)
    new: Any
    mark: str  # one of the kinds above
    tolerance: Tolerance | None = None
    interval: Summary | None = None  # set when the base is a group of repeated runs
    pooled: Summary | None = None  # set when the new runs are a group: ``new`` is its mean

    @property
    def flagged(self) -> bool:
        return self.mark in FLAGGED

    @property
    def delta(self) -> float | None:
        if not (_number(self.base) and _number(self.new)):
            return None
        return float(self.new) - float(self.base)

    @property
    def relative(self) -> float | None:
        delta = self.delta
        if delta is None or float(self.base) == 0:
            return None
        return delta / abs(float(self.base))


@dataclass(frozen=True, kw_only=True)
class PointComparison:
    experiment: str
    run_id: str
    matrix_point: Mapping[str, Scalar]
    base_runs: tuple[str, ...]  # run ids compared with; empty: no base run of this point
    parameters: tuple[tuple[str, Scalar, Scalar], ...]  # (name, base, new) where they differ
    metrics: tuple[MetricChange, ...]
    pooled_runs: int = 1  # more: a group of repeated new runs, judged by its mean

    @property
    def flagged(self) -> tuple[MetricChange, ...]:
        return tuple(m for m in self.metrics if m.flagged)


def base_runs_of(
    new: Mapping[str, Any], bases: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The base runs ``new`` is judged against, oldest first (see the module's description)."""
    experiment = new["experiment"]
    point = point_key(experiment["matrix_point"])
    same = sorted(
        (
            b
            for b in bases
            if b["experiment"]["name"] == experiment["name"]
            and point_key(b["experiment"]["matrix_point"]) == point
            and b["outcome"]["status"] == "succeeded"
        ),
        key=lambda b: str(b["run_id"]),
    )
    if not same:
        return []
    group = _group(same[-1])
    if group is None:
        return [same[-1]]
    return [b for b in same if _group(b) == group]


def compare_run(
    new: Mapping[str, Any],
    bases: Sequence[Mapping[str, Any]],
    tolerances: Mapping[str, Tolerance],
) -> PointComparison:
    """``new``'s metrics against its base runs among ``bases`` (any experiment, any point)."""
    chosen = base_runs_of(new, bases)
    metrics: list[MetricChange] = []
    if chosen:
        names = sorted(set(new["metrics"]).union(*(b["metrics"] for b in chosen)))
        metrics = [
            judge(
                name,
                [b["metrics"].get(name) for b in chosen],
                new["metrics"].get(name),
                tolerances.get(name),
            )
            for name in names
        ]
    return PointComparison(
        experiment=new["experiment"]["name"],
        run_id=new["run_id"],
        matrix_point=dict(new["experiment"]["matrix_point"]),
        base_runs=tuple(b["run_id"] for b in chosen),
        parameters=_parameter_changes(chosen[-1]["parameters"], new["parameters"])
        if chosen
        else (),
        metrics=tuple(metrics),
    )


def compare_runs(
    news: Sequence[Mapping[str, Any]],
    bases: Sequence[Mapping[str, Any]],
    tolerances: Mapping[str, Tolerance],
) -> list[PointComparison]:
    """Each new run against its base runs; a new group of repeated runs is pooled.

    The runs of one group (same experiment and ``repetition.group``) are judged
    once, by their mean and its interval, not each repetition alone.
    """
    pools: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for new in news:
        group = _group(new)
        key = ("group", f"{new['experiment']['name']}/{group}") if group else ("run", new["run_id"])
        pools.setdefault(key, []).append(new)
    return [
        compare_run(members[0], bases, tolerances)
        if len(members) == 1
        else compare_group(members, bases, tolerances)
        for members in pools.values()
    ]


def compare_group(
    members: Sequence[Mapping[str, Any]],
    bases: Sequence[Mapping[str, Any]],
    tolerances: Mapping[str, Tolerance],
) -> PointComparison:
    """A group of repeated new runs (one matrix point) against its base runs, pooled."""
    first = sorted(members, key=lambda m: str(m["run_id"]))[0]
    single = compare_run(first, bases, tolerances)
    chosen = base_runs_of(first, bases)
    if not chosen:
        return single
    names = sorted(set().union(*(m["metrics"] for m in members), *(b["metrics"] for b in chosen)))
    metrics = tuple(
        judge_pooled(
            name,
            [b["metrics"].get(name) for b in chosen],
            [m["metrics"].get(name) for m in members],
            tolerances.get(name),
        )
        for name in names
    )
    return dataclasses.replace(single, metrics=metrics, pooled_runs=len(members))


def judge_pooled(
    name: str, bases: Sequence[Any], news: Sequence[Any], tolerance: Tolerance | None
) -> MetricChange:
    """One metric of a new group: its mean against the base.

    Against repeated base runs: Welch's 95% interval of the difference of the means;
    a change is flagged when that interval leaves out zero. Against one base run:
    the group's mean by the tolerance, as one new run would be.
    """
    present = [value for value in news if value is not None]
    numbers = [float(value) for value in present if _number(value)]
    if len(numbers) < 2 or len(numbers) != len(present):
        return judge(name, bases, present[-1] if present else None, tolerance)
    pooled = summarize(numbers)
    base_values = [value for value in bases if value is not None]
    if len(base_values) < 2 or not all(_number(value) for value in base_values):
        return dataclasses.replace(judge(name, bases, pooled.mean, tolerance), pooled=pooled)
    floats = [float(value) for value in base_values]
    difference = welch_difference(floats, numbers)
    inside = difference.low <= 0.0 <= difference.high
    return MetricChange(
        name=name,
        base=summarize(floats).mean,
        new=pooled.mean,
        mark=WITHIN if inside else _direction(difference.difference, tolerance),
        tolerance=tolerance,
        interval=summarize(floats),
        pooled=pooled,
    )


def judge(name: str, bases: Sequence[Any], new: Any, tolerance: Tolerance | None) -> MetricChange:
    """One metric: its base values (one per base run; None where absent) against ``new``."""
    present = [value for value in bases if value is not None]
    if new is None:
        base = present[-1] if present else None
        return MetricChange(name=name, base=base, new=None, mark=MISSING, tolerance=tolerance)
    if not present:
        return MetricChange(name=name, base=None, new=new, mark=ADDED, tolerance=tolerance)
    if not _number(new) or not all(_number(value) for value in present):
        bad = next((v for v in present if not _number(v)), present[-1])
        return MetricChange(name=name, base=bad, new=new, mark=NOT_COMPARABLE, tolerance=tolerance)
    if len(present) >= 2:
        interval = summarize([float(v) for v in present])
        inside = interval.low <= float(new) <= interval.high
        mark = WITHIN if inside else _direction(float(new) - interval.mean, tolerance)
        return MetricChange(
            name=name,
            base=interval.mean,
            new=new,
            mark=mark,
            tolerance=tolerance,
            interval=interval,
        )
    base = float(present[0])
    if tolerance is None:
        return MetricChange(name=name, base=present[0], new=new, mark=UNJUDGED)
    allowed = allowed_change(tolerance, base)
    delta = float(new) - base
    within = abs(delta) <= allowed + 1e-12 * abs(base)
    mark = WITHIN if within else _direction(delta, tolerance)
    return MetricChange(name=name, base=present[0], new=new, mark=mark, tolerance=tolerance)


def allowed_change(tolerance: Tolerance, base: float) -> float:
    """How far a value may move from ``base``: as runner/reproduce/compare.py reads it."""
    return max(tolerance.absolute or 0.0, (tolerance.relative or 0.0) * abs(base))


def _direction(delta: float, tolerance: Tolerance | None) -> str:
    better = tolerance.better if tolerance is not None else None
    if better == "higher":
        return IMPROVEMENT if delta > 0 else REGRESSION
    if better == "lower":
        return IMPROVEMENT if delta < 0 else REGRESSION
    return BEYOND


def _number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def point_key(point: Mapping[str, Any]) -> str:
    """A matrix point as text, so that 1, 1.0 and true are three points, not one."""
    return json.dumps(point, sort_keys=True)


def _group(manifest: Mapping[str, Any]) -> str | None:
    repetition = manifest.get("repetition")
    group = repetition.get("group") if isinstance(repetition, Mapping) else None
    return str(group) if group is not None else None


def _parameter_changes(
    base: Mapping[str, Scalar], new: Mapping[str, Scalar]
) -> tuple[tuple[str, Scalar, Scalar], ...]:
    return tuple(
        (name, base.get(name), new.get(name))
        for name in sorted(set(base) | set(new))
        if point_key({"v": base.get(name)}) != point_key({"v": new.get(name)})
    )
