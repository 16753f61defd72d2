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

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runner.model.experiment import Tolerance

WITHIN = "within"
REGRESSION = "regression"
IMPROVEMENT = "improvement"
BEYOND = "beyond"  # beyond the tolerance, and the scenario says no better direction
UNJUDGED = "unjudged"  # no tolerance for this metric
NOT_COMPARABLE = "not comparable"  # a value that is not a finite number
ADDED = "added"  # no base value
MISSING = "missing"  # no new value
FLAGGED = (REGRESSION, IMPROVEMENT, BEYOND, MISSING)

# Two-sided 95% critical values of Student's t, by degrees of freedom (1..30); 1.96 beyond.
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip

Scalar = str | int | float | bool | None


@dataclass(frozen=True, kw_only=True)
class Interval:
    """The mean of ``runs`` base values and the 95% confidence interval of that mean."""

    mean: float
    low: float
    high: float
    runs: int


@dataclass(frozen=True, kw_only=True)
class MetricChange:
    name: str
    base: Any  # as recorded: a number, or what stood there instead (None: absent)
    new: Any
    mark: str  # one of the kinds above
    tolerance: Tolerance | None = None
    interval: Interval | None = None  # set when the base is a group of repeated runs

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

    @property
    def flagged(self) -> tuple[MetricChange, ...]:
        return tuple(m for m in self.metrics if m.flagged)


def mean_interval(values: Sequence[float]) -> Interval:
    """Mean and 95% confidence interval of the mean (Student's t) of two or more values."""
    if len(values) < 2:
        raise ValueError("a confidence interval needs two or more values")
    mean = statistics.fmean(values)
    t = _T95[len(values) - 2] if len(values) - 1 <= len(_T95) else 1.96
    half = t * statistics.stdev(values) / math.sqrt(len(values))
    return Interval(mean=mean, low=mean - half, high=mean + half, runs=len(values))


def base_runs_of(
    new: Mapping[str, Any], bases: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The base runs ``new`` is judged against, oldest first (see the module's description)."""
    experiment = new["experiment"]
    point = _canonical(experiment["matrix_point"])
    same = sorted(
        (
            b
            for b in bases
            if b["experiment"]["name"] == experiment["name"]
            and _canonical(b["experiment"]["matrix_point"]) == point
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
        interval = mean_interval([float(v) for v in present])
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


def _canonical(point: Mapping[str, Any]) -> str:
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
        if _canonical({"v": base.get(name)}) != _canonical({"v": new.get(name)})
    )
