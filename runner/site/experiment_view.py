"""The experiment page's context: its scenario, images, sweeps, history and runs.

Links are already relative to the page; everything from run records is data the
templates escape (the README alone is HTML, sanitized by ``readme``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from markupsafe import Markup

from runner.model.experiment import Tolerance
from runner.site import urls
from runner.site.cache import BuildCache, content_key
from runner.site.collect import ExperimentRecord, RunRecord
from runner.site.compare import compared_runs
from runner.site.downloads import Checked
from runner.site.groups import collapse_groups, group_of
from runner.site.history import history_plots
from runner.site.plots import SweepPlot, sweep_plots
from runner.site.readme import render_markdown
from runner.site.views import plot_href

METRIC_COLUMNS = 8
HISTORY_VERSION = "1"  # part of the history's cache key: change when its plots change


def experiment_context(
    experiment: ExperimentRecord,
    links: urls.Links,
    cache: BuildCache,
    copies: dict[str, Path | Checked],
) -> dict[str, Any]:
    page = urls.experiment_page(experiment.name)
    manifests = [run.manifest for run in experiment.runs if run.manifest is not None]
    sweeps = sweep_plots(*collapse_groups(manifests))
    scenario = experiment.scenario
    metric_names = sorted({k for manifest in manifests for k in manifest["metrics"]})
    groups = _group_links(experiment, links, page)
    return {
        "name": experiment.name,
        "title": experiment.title,
        "index_href": links.href(urls.EXPERIMENTS, page=page),
        "problems": list(experiment.problems)
        + [problem for run in experiment.runs for problem in run.problems],
        "s": scenario,
        "readme_html": _readme(experiment.readme),
        "images": _experiment_images(experiment, links, page),
        "sweeps": [_sweep_file(plot, links, page, cache, copies) for plot in sweeps],
        "history": _history(experiment, manifests, metric_names, links, page, cache, copies),
        "metric_names": metric_names[:METRIC_COLUMNS],
        "has_groups": bool(groups),
        "compare_href": links.href(urls.compare_page(experiment.name), page=page)
        if len(compared_runs(experiment)) >= 2
        else None,
        "runs": [_run_row(run, links, page, groups) for run in experiment.runs],
    }


def _history(
    experiment: ExperimentRecord,
    manifests: Sequence[Mapping[str, Any]],
    metric_names: list[str],
    links: urls.Links,
    page: str,
    cache: BuildCache,
    copies: dict[str, Path | Checked],
) -> list[dict[str, Any]]:
    """Each metric over the runs (the first METRIC_COLUMNS), its marked runs linked.

    What the plots show depends only on the runs' manifests and the tolerances: it
    is cached under their hashes, so an unchanged experiment is not judged again.
    """
    written = experiment.scenario["tolerances"] if experiment.scenario else {}
    metrics = metric_names[:METRIC_COLUMNS]
    key = content_key(
        HISTORY_VERSION,
        json.dumps([written, metrics], sort_keys=True),
        *(f"{run.run_id}:{run.manifest_sha256}" for run in experiment.runs if run.manifest),
    )
    path = cache.path("plots", key, "-history.json")
    shown = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    svgs = [cache.path("plots", item["svg"], ".svg") for item in shown or () if item["svg"]]
    if shown is None or not all(svg.is_file() for svg in svgs):
        tolerances = {name: Tolerance(**values) for name, values in written.items()}
        plots = history_plots(manifests, tolerances, metrics=metrics)
        shown = [
            {
                "metric": plot.metric,
                "svg": content_key(plot.svg) if plot.svg else None,
                "problem": plot.problem,
                "flags": [[flag.run_id, flag.text] for flag in plot.flags],
            }
            for plot in plots
        ]
        for plot in plots:
            if plot.svg:
                _cached_svg(plot.svg, cache)
        cache.write(path, json.dumps(shown).encode("utf-8"))
    return [
        {
            "metric": item["metric"],
            "src": plot_href(cache.path("plots", item["svg"], ".svg"), links, page, copies)
            if item["svg"]
            else None,
            "alt": f"{item['metric']} over the runs",
            "problem": item["problem"],
            "flags": [
                {
                    "run_id": run_id,
                    "href": links.href(urls.run_page(experiment.name, run_id), page=page),
                    "text": text,
                }
                for run_id, text in item["flags"]
            ],
        }
        for item in shown
    ]


def _group_links(experiment: ExperimentRecord, links: urls.Links, page: str) -> dict[str, str]:
    """Each group's link: its first run's page, where the group's intervals are shown."""
    first: dict[str, str] = {}
    for run in sorted(experiment.runs, key=lambda r: r.run_id):
        group = group_of(run.manifest) if run.manifest else None
        if group is not None and group not in first:
            first[group] = links.href(urls.run_page(run.experiment, run.run_id), page=page)
    return {group: f"{href}#group" for group, href in first.items()}


def _run_row(
    run: RunRecord, links: urls.Links, page: str, groups: Mapping[str, str]
) -> dict[str, Any]:
    manifest = run.manifest
    group = group_of(manifest) if manifest else None
    return {
        "run_id": run.run_id,
        "href": links.href(urls.run_page(run.experiment, run.run_id), page=page),
        "status": run.status,
        "started": manifest["timing"]["started"] if manifest else None,
        "duration": manifest["timing"]["duration_s"] if manifest else None,
        "point": manifest["experiment"]["matrix_point"] if manifest else {},
        "metrics": manifest["metrics"] if manifest else {},
        "group": {
            "group": group,
            "index": manifest["repetition"]["index"],
            "of": manifest["repetition"]["of"],
            "href": groups.get(group),
        }
        if manifest and group is not None
        else None,
    }


def _experiment_images(
    experiment: ExperimentRecord, links: urls.Links, page: str
) -> list[dict[str, Any]]:
    images: dict[str, dict[str, Any]] = {}
    for role in experiment.scenario["roles"] if experiment.scenario else ():
        name = str(role["image"]).rstrip("/")
        images.setdefault(
            name,
            {
                "image": name,
                "local": role["image_is_path"],
                "dockerfile": experiment.dockerfiles.get(name),
                "digests": {},
            },
        )
    for run in experiment.runs:
        for image in run.manifest["images"] if run.manifest else ():
            name = str(image["image"]).rstrip("/")
            entry = images.setdefault(
                name, {"image": name, "local": False, "dockerfile": None, "digests": {}}
            )
            digest = image["digest"] or f"{image['image_id']} (local, no registry digest)"
            entry["digests"].setdefault(digest, []).append(
                {
                    "run_id": run.run_id,
                    "role": image["role"],
                    "href": links.href(urls.run_page(run.experiment, run.run_id), page=page),
                }
            )
    return [
        {**entry, "digests": [{"digest": d, "runs": runs} for d, runs in entry["digests"].items()]}
        for entry in images.values()
    ]


def _readme(text: str | None) -> Markup | None:
    if text is None:
        return None
    return Markup(render_markdown(text))  # noqa: S704 - raw HTML removed, then nh3


def _sweep_file(
    plot: SweepPlot,
    links: urls.Links,
    page: str,
    cache: BuildCache,
    copies: dict[str, Path | Checked],
) -> dict[str, str | None]:
    alt = f"{plot.metric} against {plot.parameter}"
    if plot.svg is None:
        return {"src": None, "alt": alt, "problem": plot.problem}
    return {"src": _svg_href(plot.svg, links, page, cache, copies), "alt": alt, "problem": None}


def _svg_href(
    svg: str, links: urls.Links, page: str, cache: BuildCache, copies: dict[str, Path | Checked]
) -> str:
    """Writes ``svg`` into the cache under its hash (once) and publishes it; its link."""
    return plot_href(_cached_svg(svg, cache), links, page, copies)


def _cached_svg(svg: str, cache: BuildCache) -> Path:
    path = cache.path("plots", content_key(svg), ".svg")
    if not path.is_file():
        cache.write(path, svg.encode("utf-8"))
    return path
