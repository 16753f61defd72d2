"""The change table of runner/model/regression.py as markdown, for the CI summary and comment.

Everything from a manifest (metric names, values, parameters, run ids) came from a
pull request's run or the repository: it is shown literally, never as markdown
or HTML (:func:`inert`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from runner.model.experiment import Tolerance
from runner.model.regression import (
    ADDED,
    BEYOND,
    IMPROVEMENT,
    MISSING,
    NOT_COMPARABLE,
    REGRESSION,
    UNJUDGED,
    WITHIN,
    MetricChange,
    PointComparison,
)

MAX_ROWS = 40  # metric rows per run; the rest are counted
MAX_CELL = 200
_SPECIAL = re.compile(r"([\\`*_\[\]()|#!~+{}])")


def inert(text: object) -> str:
    """Text shown literally in a markdown table cell: HTML escaped, markdown marks
    backslashed, one line, bounded."""
    plain = " ".join(str(text).split())[:MAX_CELL]
    plain = plain.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", plain)


def render_comparisons(comparisons: Sequence[PointComparison], *, base: str) -> str:
    """Markdown: per new run, its metrics against ``base``'s runs of the same point."""
    if not comparisons:
        return ""
    flagged = sum(len(c.flagged) for c in comparisons)
    lines = [
        f"#### Metrics against {inert(base)}",
        "",
        "Tolerances: the scenario's `reproduce.metrics` as the base has them (the change's own "
        "only for metrics the base gives none).",
        "",
    ]
    if flagged:
        lines += [f"**⚠ {flagged} metric change(s) beyond tolerance: see below.**", ""]
    for comparison in comparisons:
        lines += _point(comparison, base=base)
    return "\n".join(lines) + "\n"


def mark_text(change: MetricChange) -> str:
    """The mark of one metric, in words and a symbol."""
    how = _yardstick(change)
    texts = {
        WITHIN: f"✓ within {how}",
        REGRESSION: f"⚠ regression: beyond {how}, {_better(change.tolerance)} is better",
        IMPROVEMENT: f"▲ improvement: beyond {how}, {_better(change.tolerance)} is better",
        BEYOND: f"⚠ beyond {how}",
        UNJUDGED: "no tolerance set (reproduce.metrics)",
        NOT_COMPARABLE: "not a finite number: not compared",
        ADDED: "new metric: no base value",
        MISSING: "⚠ missing from the new run",
    }
    return texts.get(change.mark, inert(change.mark))


def _point(comparison: PointComparison, *, base: str) -> list[str]:
    title = f"**{inert(comparison.experiment)}** run {inert(comparison.run_id)}"
    if comparison.pooled_runs > 1:
        title += f" and its group ({comparison.pooled_runs} repeated runs, pooled: their mean)"
    if comparison.matrix_point:
        point = ", ".join(f"{k}={v}" for k, v in sorted(comparison.matrix_point.items()))
        title += f" (matrix point {inert(point)})"
    if not comparison.base_runs:
        return [f"{title}: no earlier run on {inert(base)} to compare with", ""]
    runs = comparison.base_runs
    against = f"run {inert(runs[-1])}" if len(runs) == 1 else f"the mean of {len(runs)} runs"
    lines = [f"{title}, against {against}:", ""]
    if comparison.parameters:
        shown = "; ".join(f"{n}: {_value(b)} → {_value(v)}" for n, b, v in comparison.parameters)
        lines += [f"parameters changed: {inert(shown)}", ""]
    lines += ["| metric | base | new | change | mark |", "|---|---|---|---|---|"]
    for change in comparison.metrics[:MAX_ROWS]:
        lines.append(
            f"| {inert(change.name)} | {inert(_value(change.base))} | "
            f"{inert(_value(change.new))} | {inert(_change(change))} | {mark_text(change)} |"
        )
    if len(comparison.metrics) > MAX_ROWS:
        lines.append(f"| … {len(comparison.metrics) - MAX_ROWS} more | | | | |")
    return [*lines, ""]


def _yardstick(change: MetricChange) -> str:
    if change.interval is not None and change.pooled is not None:
        return (
            f"Welch's 95% interval of the difference of the means "
            f"({change.pooled.n} new runs, {change.interval.n} base runs)"
        )
    if change.interval is not None:
        i = change.interval
        return f"the 95% interval [{i.low:.6g}, {i.high:.6g}] of {i.n} base runs"
    return f"tolerance ({describe_tolerance(change.tolerance)})"


def describe_tolerance(tolerance: Tolerance | None) -> str:
    """``±30%``, ``±0.5``, or both: as written in the scenario."""
    if tolerance is None:
        return "none"
    parts = []
    if tolerance.absolute is not None:
        parts.append(f"±{tolerance.absolute:g}")
    if tolerance.relative is not None:
        parts.append(f"±{tolerance.relative * 100:g}%")
    return " or ".join(parts) or "±0"


def _better(tolerance: Tolerance | None) -> str:
    return (tolerance.better if tolerance is not None else None) or "?"


def _change(change: MetricChange) -> str:
    delta = change.delta
    if delta is None:
        return "-"
    relative = change.relative
    shown = f"{delta:+.6g}"
    return shown if relative is None else f"{shown} ({relative * 100:+.3g}%)"


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.6g}"
    return str(value)
