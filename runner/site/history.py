"""Each metric of an experiment over its runs, oldest first, with regressions marked.

A run is judged by the rule ``radiops ci`` uses (runner/model/regression.py): its
metrics against the latest earlier run of the same matrix point (or that run's
whole group of repeated runs), with the scenario's tolerances. Runs of the run's
own group are not its yardstick. Every text drawn comes from run records and is
escaped by ``svg``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runner.model.experiment import Tolerance
from runner.model.regression import BEYOND, REGRESSION, MetricChange, compare_run, point_key
from runner.site.groups import group_of
from runner.site.plots import LOG_AXIS_SPAN, failure_text
from runner.site.svg import line_plot

Manifest = Mapping[str, Any]
MARKED = (REGRESSION, BEYOND)  # drawn as a red ring: worse, or moved with no better way
_LABELS = 8  # x labels at most: more would overlap


@dataclass(frozen=True, kw_only=True)
class Flag:
    """One marked point: the run, and what its metric did against which base."""

    run_id: str
    text: str


@dataclass(frozen=True, kw_only=True)
class HistoryPlot:
    metric: str
    svg: str | None  # None: not drawn, ``problem`` says why
    flags: tuple[Flag, ...] = ()
    problem: str | None = None


def judge_history(
    manifests: Sequence[Manifest], tolerances: Mapping[str, Tolerance]
) -> dict[str, dict[str, MetricChange]]:
    """Per run id, each metric's judgement against the earlier runs of its point."""
    earlier: dict[str, list[Manifest]] = {}
    judged: dict[str, dict[str, MetricChange]] = {}
    for manifest in sorted(manifests, key=lambda m: str(m["run_id"])):
        same_point = earlier.setdefault(point_key(manifest["experiment"]["matrix_point"]), [])
        group = group_of(manifest)
        bases = [b for b in same_point if group is None or group_of(b) != group]
        comparison = compare_run(manifest, bases, tolerances)
        judged[str(manifest["run_id"])] = {c.name: c for c in comparison.metrics}
        same_point.append(manifest)
    return judged


def history_plots(
    manifests: Sequence[Manifest],
    tolerances: Mapping[str, Tolerance],
    *,
    metrics: Sequence[str],
) -> list[HistoryPlot]:
    """One plot per metric in ``metrics`` that at least two runs recorded as a number."""
    ordered = sorted(manifests, key=lambda m: str(m["run_id"]))
    judged = judge_history(ordered, tolerances)
    plots = []
    for metric in metrics:
        rows = [m for m in ordered if _finite(m["metrics"].get(metric))]
        if len(rows) < 2:
            continue
        changes = [judged[str(m["run_id"])].get(metric) for m in rows]
        flags = tuple(
            Flag(run_id=str(m["run_id"]), text=_flag_text(m, change))
            for m, change in zip(rows, changes, strict=True)
            if change is not None and change.mark in MARKED
        )
        try:
            svg = _history_svg(metric, rows, changes)
        except Exception as error:  # record data: whatever it breaks stays in this plot
            plots.append(
                HistoryPlot(metric=metric, svg=None, problem=f"not plotted: {failure_text(error)}")
            )
        else:
            plots.append(HistoryPlot(metric=metric, svg=svg, flags=flags))
    return plots


def _history_svg(
    metric: str, rows: Sequence[Manifest], changes: Sequence[MetricChange | None]
) -> str:
    ys = [float(m["metrics"][metric]) for m in rows]
    log_y = min(ys) > 0 and max(ys) >= min(ys) * LOG_AXIS_SPAN
    every = math.ceil(len(rows) / _LABELS)
    names = [_label(m) if i % every == 0 else "" for i, m in enumerate(rows)]
    notes = [
        f"run {m['run_id']} · commit {_commit(m)[:12]} · {y:.6g}"
        + (f" · {c.mark}" if c is not None and c.mark in MARKED else "")
        for m, y, c in zip(rows, ys, changes, strict=True)
    ]
    return line_plot(
        [float(i) for i in range(len(rows))],
        ys,
        title=f"{metric} over the runs",
        x_label="run (date, commit)",
        y_label=metric + (" (log scale)" if log_y else ""),
        x_names=names,
        log_y=log_y,
        notes=notes,
        flagged=[c is not None and c.mark in MARKED for c in changes],
    )


def _flag_text(manifest: Manifest, change: MetricChange) -> str:
    base = change.base
    shown = f"{base:.6g}" if isinstance(base, float) else str(base)
    return (
        f"{change.mark}: {float(change.new):.6g} against {shown} (commit {_commit(manifest)[:12]})"
    )


def _label(manifest: Manifest) -> str:
    started = str(manifest["timing"]["started"])
    return f"{started[:10]}\n{_commit(manifest)[:7]}"


def _commit(manifest: Manifest) -> str:
    return str(manifest["code"]["commit"] or "")


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
