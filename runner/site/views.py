"""What each generated page shows: the context its template gets, made from the records.

Links are already relative to the page. A run page's context is plain JSON
data, so its hash says whether the page changed (see ``pages``).
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.model.health import HealthState
from runner.model.references import is_pinned, split_pinned
from runner.site import urls
from runner.site.cache import BuildCache
from runner.site.collect import ExperimentRecord, RunRecord, SiteData
from runner.site.downloads import Checked, Download, log_download
from runner.site.groups import run_group_view
from runner.site.readme import is_safe_url
from runner.site.recording_view import output_items

LATEST_RUNS = 20
RUNS_PER_DIGEST = 20  # the images page lists this many runs per digest, then a count


def run_context(
    run: RunRecord,
    experiment: ExperimentRecord,
    data: SiteData,
    links: urls.Links,
    cache: BuildCache,
    copies: dict[str, Path | Checked],
) -> dict[str, Any]:
    """The run page's context; files to copy into the site are added to ``copies``."""
    page = urls.run_page(run.experiment, run.run_id)
    context: dict[str, Any] = {
        "run_id": run.run_id,
        "title": f"{experiment.title} · run {run.run_id}",
        "experiment_title": experiment.title,
        "experiment_href": links.href(urls.experiment_page(run.experiment), page=page),
        "index_href": links.href(urls.EXPERIMENTS, page=page),
        "problems": list(run.problems),
        "m": run.manifest,
    }
    manifest = run.manifest
    if manifest is None:
        return context
    context["group"] = run_group_view(manifest, [r.manifest for r in experiment.runs if r.manifest])
    outputs, refused = [], []
    shown = output_items(
        manifest["outputs"],
        run.directory,
        data.store,
        cache=cache,
        offer=functools.partial(_shown, links=links, page=page, copies=copies),
        publish=functools.partial(plot_href, links=links, page=page, copies=copies),
    )
    for entry, download, item in shown:
        outputs.append(item)
        if download.refused:
            refused.append(
                f"output {entry['path']} ({entry['role']}#{entry['index']}): {download.why_not}"
            )
    logs = []
    for entry in manifest["logs"]:
        download = log_download(entry, run.directory)
        logs.append({"entry": entry, "download": _shown(download, links, page, copies)})
        if download.refused:
            refused.append(
                f"log {entry['role']}#{entry['index']} {entry['stream']}: {download.why_not}"
            )
    pull_request = manifest["code"]["pull_request"]
    context.update(
        outputs=outputs,
        logs=logs,
        refused=refused,
        reproduce=reproduce_commands(manifest),
        unpinned=[i["role"] for i in manifest["images"] if pinned_ref(i) is None],
        pr_href=pull_request["url"] if pull_request and is_safe_url(pull_request["url"]) else None,
    )
    return context


def reproduce_commands(manifest: Mapping[str, Any]) -> list[str]:
    """The commands that pull the exact images and run this run again."""
    name, run_id = manifest["experiment"]["name"], manifest["run_id"]
    pulls = sorted({ref for ref in map(pinned_ref, manifest["images"]) if ref})
    return [
        *(shlex.join(["docker", "pull", ref]) for ref in pulls),
        shlex.join(["radiops", "reproduce", f"experiments/{name}", "--run", run_id]),
        shlex.join(["radiops", "bundle", run_id]),
    ]


def pinned_ref(image: Mapping[str, Any]) -> str | None:
    """The image's registry reference pinned by digest, or None without a registry digest."""
    ref, digest = str(image["ref"]), image["digest"]
    if is_pinned(ref):
        return ref
    if not digest:
        return None
    return f"{split_pinned(ref)[0]}@{digest}"


def experiments_context(data: SiteData, links: urls.Links) -> dict[str, Any]:
    rows = []
    for experiment in data.experiments:
        last = experiment.runs[0] if experiment.runs else None
        rows.append(
            {
                "name": experiment.name,
                "href": links.href(urls.experiment_page(experiment.name), page=urls.EXPERIMENTS),
                "title": experiment.title,
                "tags": list(experiment.scenario["tags"]) if experiment.scenario else [],
                "runs": len(experiment.runs),
                "broken": bool(experiment.problems) or any(r.problems for r in experiment.runs),
                "last_run": last.run_id if last else None,
                "last_href": links.href(
                    urls.run_page(last.experiment, last.run_id), page=urls.EXPERIMENTS
                )
                if last
                else None,
                "last_status": last.status if last else None,
            }
        )
    return {"rows": rows, "run_count": len(data.runs), "ignored": list(data.ignored)}


def latest_context(data: SiteData, links: urls.Links) -> dict[str, Any]:
    titles = {e.name: e.title for e in data.experiments}
    runs = sorted(data.runs, key=lambda run: run.run_id, reverse=True)[:LATEST_RUNS]
    page = urls.HOME
    return {
        "runs": [
            {
                "run_id": run.run_id,
                "href": links.href(urls.run_page(run.experiment, run.run_id), page=page),
                "experiment_href": links.href(urls.experiment_page(run.experiment), page=page),
                "title": titles[run.experiment],
                "status": run.status,
                "finished": run.manifest["timing"]["finished"] if run.manifest else None,
            }
            for run in runs
        ],
        "experiments_href": links.href(urls.EXPERIMENTS, page=page),
        "images_href": links.href(urls.IMAGES, page=page),
        "nodes_href": links.href(urls.NODES, page=page),
    }


def images_context(data: SiteData, links: urls.Links) -> dict[str, Any]:
    page = urls.IMAGES
    images: dict[str, dict[str, Any]] = {
        f"images/{d.name}": {"experiments": {}, "digests": {}}
        for d in sorted((data.root / "images").glob("*/"))
        if d.is_dir()
    }
    for experiment in data.experiments:
        for role in experiment.scenario["roles"] if experiment.scenario else ():
            entry = images.setdefault(
                str(role["image"]).rstrip("/"), {"experiments": {}, "digests": {}}
            )
            entry["experiments"][experiment.name] = links.href(
                urls.experiment_page(experiment.name), page=page
            )
    for run in sorted(data.runs, key=lambda r: r.run_id):
        for image in run.manifest["images"] if run.manifest else ():
            entry = images.setdefault(
                str(image["image"]).rstrip("/"), {"experiments": {}, "digests": {}}
            )
            digest = image["digest"] or f"{image['image_id']} (local, no registry digest)"
            seen = entry["digests"].setdefault(digest, {"runs": {}, "first": run.run_id})
            seen["last"] = run.run_id
            seen["runs"][run.run_id] = links.href(
                urls.run_page(run.experiment, run.run_id), page=page
            )
    return {
        "images": [
            {
                "image": name,
                "experiments": [
                    {"name": n, "href": h} for n, h in sorted(entry["experiments"].items())
                ],
                "digests": [
                    {
                        "digest": digest,
                        "first": seen["first"],
                        "last": seen["last"],
                        "count": len(seen["runs"]),
                        "runs": [
                            {"run_id": run_id, "href": href}
                            for run_id, href in list(reversed(seen["runs"].items()))[
                                :RUNS_PER_DIGEST
                            ]
                        ],
                    }
                    for digest, seen in sorted(
                        entry["digests"].items(), key=lambda i: i[1]["last"], reverse=True
                    )
                ],
            }
            for name, entry in sorted(images.items())
        ]
    }


def nodes_context(data: SiteData, links: urls.Links) -> dict[str, Any]:
    page = urls.NODES
    last: dict[str, dict[str, Any]] = {}
    for run in sorted(data.runs, key=lambda r: r.run_id):
        for placement in run.manifest["placements"] if run.manifest else ():
            radio = placement["radio"]
            last[placement["node"]] = {
                "run_id": run.run_id,
                "href": links.href(urls.run_page(run.experiment, run.run_id), page=page),
                "when": run.manifest["timing"]["finished"],  # type: ignore[index]
                "radio": _radio_text(radio) if radio else "",
            }
    described = data.testbed.nodes if data.testbed else {}
    names = sorted(set(described) | set(last))
    nodes = []
    for name in names:
        node = described.get(name)
        probe = data.probes.get(name)
        nodes.append(
            {
                "name": name,
                "description": node.description if node else "not in testbed.yaml",
                "radios": [vars(radio) for radio in node.radios] if node else [],
                "tags": list(node.tags) if node else [],
                "probe": {
                    "at": str(probe.get("probed_at", "")),
                    "uhd": str(probe.get("uhd_version") or ""),
                    "devices": len(probe.get("devices") or []),
                }
                if probe
                else None,
                "last": last.get(name),
                "health": _health(data.health.get(name)),
            }
        )
    return {
        "nodes": nodes,
        "has_testbed": data.testbed is not None or bool(data.testbed_problems),
        "problems": list(data.testbed_problems),
    }


def _health(state: HealthState | None) -> dict[str, Any] | None:
    """A node's recorded health (``radiops testbed check --record``), newest check first."""
    if state is None:
        return None
    return {
        "quarantined_since": state.quarantined_since,
        "reason": state.reason,
        "history": [vars(item) for item in reversed(state.history[-10:])],
    }


def _radio_text(radio: Mapping[str, Any]) -> str:
    words = [str(radio["type"])]
    if radio.get("serial"):
        words.append(str(radio["serial"]))
    if radio.get("uhd_version"):
        words.append(f"UHD {radio['uhd_version']}")
    if radio.get("simulated"):
        words.append("(simulated)")
    return " ".join(words)


def plot_href(path: Path, links: urls.Links, page: str, copies: dict[str, Path | Checked]) -> str:
    """Publishes a cached plot in the site's one plots folder; its link from ``page``.

    Plots are named by the hash of what they show, so runs and experiments
    with the same plot share one file.
    """
    site_path = f"plots/{path.name[:2]}/{path.name}"
    copies[site_path] = path
    return links.href(site_path, page=page)


def _shown(
    download: Download, links: urls.Links, page: str, copies: dict[str, Path | Checked]
) -> dict[str, Any]:
    """How a page offers ``download``; a file to publish in the site is added to ``copies``.

    Every file in ``copies`` under one site path has the bytes that path
    names (``check_file`` hashed them), so which run's file is kept is the
    same file.
    """
    href = download.url
    if download.file is not None and download.site_path is not None:
        copies.setdefault(download.site_path, download.file)
        href = links.href(download.site_path, page=page)
    return {"name": download.name, "href": href, "why_not": download.why_not}
