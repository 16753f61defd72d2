"""Repeated runs on the site: each metric as the mean ± the half-width of its 95%
confidence interval over the runs of a group (runner/model/stats.py), on the run page and
as error bars on the experiment's sweep plots.

A group is the runs whose manifests share ``repetition.group``; only valid manifests with
finite metric values count, so a broken or missing run narrows the group rather than
breaking the page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from runner.model.stats import Summary, summarize

Manifest = Mapping[str, Any]
Point = tuple[Mapping[str, Any], Mapping[str, float]]  # a matrix point and its metrics


def group_of(manifest: Manifest) -> str | None:
    repetition = manifest.get("repetition")
    return repetition.get("group") if isinstance(repetition, Mapping) else None


def group_metrics(members: Sequence[Manifest]) -> dict[str, Summary]:
    """Each metric's summary over the group's runs that recorded a finite value of it."""
    names = sorted({name for m in members for name in m.get("metrics", {})})
    summaries = {}
    for name in names:
        values = [
            float(v)
            for m in members
            if isinstance(v := m.get("metrics", {}).get(name), int | float)
            and not isinstance(v, bool)
            and math.isfinite(v)
        ]
        if values:
            summaries[name] = summarize(values)
    return summaries


def run_group_view(manifest: Manifest, siblings: Sequence[Manifest]) -> dict[str, Any] | None:
    """What the run page shows of the run's group (None: not a repeated run)."""
    group = group_of(manifest)
    if group is None:
        return None
    members = [m for m in siblings if group_of(m) == group]
    rows = [
        {"metric": name, "value": manifest.get("metrics", {}).get(name), "text": interval_text(s)}
        for name, s in group_metrics(members).items()
    ]
    return {
        "group": group,
        "index": manifest["repetition"]["index"],
        "of": manifest["repetition"]["of"],
        "found": len(members),
        "rows": rows,
    }


def interval_text(summary: Summary) -> str:
    """``1.2e-03 ± 8.1e-05 (95% CI, N = 5)``; a single value says it has no interval."""
    if summary.half_width is None:
        return f"{summary.mean:.6g} (N = 1, no interval)"
    return f"{summary.mean:.6g} ± {summary.half_width:.2g} (95% CI, N = {summary.n})"


def collapse_groups(manifests: Sequence[Manifest]) -> tuple[list[Point], list[dict[str, float]]]:
    """Sweep points with each group as one point (its means) and the error half-widths.

    Runs outside a group stay points of their own, with no error bar.
    """
    points: list[Point] = []
    errors: list[dict[str, float]] = []
    groups: dict[str, list[Manifest]] = {}
    for manifest in manifests:
        group = group_of(manifest)
        if group is None:
            points.append((manifest["experiment"]["matrix_point"], manifest["metrics"]))
            errors.append({})
        else:
            groups.setdefault(group, []).append(manifest)
    for members in groups.values():
        summaries = group_metrics(members)
        points.append(
            (
                members[0]["experiment"]["matrix_point"],
                {name: s.mean for name, s in summaries.items()},
            )
        )
        errors.append({name: s.half_width or 0.0 for name, s in summaries.items()})
    return points, errors
