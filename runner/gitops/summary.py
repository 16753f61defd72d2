"""The markdown summary of a CI job: one table row per run, for the pull request."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.gitops.changes import Change
from runner.pipeline.context import RunResult

STATUS_MARK = {
    "succeeded": "✅",
    "failed": "❌",
    "timeout": "⏱️",
    "cancelled": "⏹️",
    "error": "⚠️",
}
KEY_METRICS = 4


@dataclass(frozen=True, kw_only=True)
class Row:
    experiment: str
    result: RunResult


def render(
    rows: Sequence[Row],
    *,
    changes: Sequence[Change],
    skipped: Sequence[tuple[str, str]],
    head: str,
    root: Path,
    site_url: str | None,
    comparisons: str = "",
) -> str:
    """Markdown: the table of runs, then what was skipped, deleted or renamed, then
    ``comparisons`` (runner/model/regression_report.py: the metrics against the base)."""
    lines = [f"### radiops: {len(rows)} run(s) for `{head[:12]}`", ""]
    if rows:
        lines += [
            "| experiment | run | status | nodes | duration | key metrics |",
            "|---|---|---|---|---|---|",
        ]
        for row in rows:
            lines.append(_row(row, root=root, site_url=site_url))
    else:
        lines.append("No experiment ran.")
    notes = [f"- `{name}`: {why}" for name, why in skipped]
    for change in changes:
        if change.kind == "deleted":
            notes.append(f"- `{change.experiment}` was deleted: not run")
        elif change.kind == "renamed":
            notes.append(f"- `{change.experiment}` was renamed to `{change.renamed_to}`: not run")
    if notes:
        lines += ["", *notes]
    failed = [r for r in rows if r.result.status != "succeeded"]
    if failed:
        lines += ["", "**Not succeeded:**"]
        lines += [f"- `{r.result.run_id}`: {_cell(r.result.reason)}" for r in failed]
    if comparisons:
        lines += ["", comparisons.rstrip("\n")]
    return "\n".join(lines) + "\n"


def _row(row: Row, *, root: Path, site_url: str | None) -> str:
    result = row.result
    manifest = json.loads((result.run_dir / "manifest.json").read_text(encoding="utf-8"))
    duration = manifest["timing"]["duration_s"]
    metrics = ", ".join(
        f"{name}={value:.4g}" for name, value in list(manifest["metrics"].items())[:KEY_METRICS]
    )
    if site_url:
        link = f"{site_url.rstrip('/')}/experiments/{row.experiment}/runs/{result.run_id}/"
    else:
        link = result.run_dir.relative_to(root).as_posix()
    mark = STATUS_MARK.get(result.status, "")
    return (
        f"| `{row.experiment}` | [{result.run_id}]({link}) | {mark} {result.status} | "
        f"{', '.join(result.nodes) or '-'} | "
        f"{f'{duration:.1f} s' if duration is not None else '-'} | {_cell(metrics) or '-'} |"
    )


def _cell(text: str) -> str:
    """Text from a run, made inert in a markdown table (no pipes, no HTML, one line)."""
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\n", " ")
    )[:300]
