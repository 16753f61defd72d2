"""What a run page shows of its outputs, and of each SigMF recording its four plots and metadata."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runner.site.cache import BuildCache
from runner.site.collect import Store
from runner.site.downloads import Download, output_download, plotted_output
from runner.site.plots import VIEWS, recording_plots
from runner.site.sigmf_meta import MetaView, read_meta_file


def output_items(
    outputs: Sequence[Mapping[str, Any]],
    run_dir: Path,
    store: Store,
    *,
    cache: BuildCache,
    offer: Callable[[Download], dict[str, Any]],
    publish: Callable[[Path], str],
) -> list[tuple[Mapping[str, Any], Download, dict[str, Any]]]:
    """Each output's entry, download and what the run page shows of it (``offer``: its link).

    A recording (an entry with ``sigmf``) also gets its plots and the
    metadata of the ``.sigmf-meta`` output beside it (same container).
    """
    found = [(entry, output_download(entry, run_dir, store)) for entry in outputs]
    by_path = {(e["role"], e["index"], e.get("origin"), e["path"]): d for e, d in found}
    items = []
    for entry, download in found:
        item: dict[str, Any] = {"entry": entry, "download": offer(download)}
        if entry["sigmf"] is not None:
            place = (entry["role"], entry["index"], entry.get("origin"))
            item["plots"] = recording_context(
                entry,
                download,
                by_path.get((*place, entry["sigmf"]["meta_path"])),
                store=store,
                cache=cache,
                publish=publish,
            )
        items.append((entry, download, item))
    return items


def recording_context(
    entry: Mapping[str, Any],
    download: Download,
    meta: Download | None,
    *,
    store: Store,
    cache: BuildCache,
    publish: Callable[[Path], str],
) -> dict[str, Any]:
    """The plots (links from ``publish``) and metadata of the recording ``entry``.

    ``meta`` is how the site reaches its ``.sigmf-meta`` output, when the
    manifest lists one. A recording too big to copy into the site, or
    published at the store's URL, is still plotted when the store is here.
    """
    view = _meta(meta)
    context: dict[str, Any] = {
        **dict.fromkeys(VIEWS),
        "psd_points": None,
        "problem": None,
        "meta_rows": [list(row) for row in view.rows],
        "meta_notes": list(view.notes) + ([view.problem] if view.problem else []),
        "annotations": len(view.annotations),
    }
    file = download.file or plotted_output(entry, store)
    if file is None:
        context["problem"] = (
            "not plotted: the recording is not published"
            if download.refused
            else "not plotted: the recording is not on this machine"
        )
        return context
    # its bytes were just hashed (check_file): no need to read them again for the key
    plots = recording_plots(
        file.path,
        entry["sigmf"],
        cache=cache,
        data_sha256=file.sha256,
        annotations=view.annotations,
    )
    made = {view_name: getattr(plots, view_name) for view_name in VIEWS}
    if any(path is None for path in made.values()):
        context["problem"] = plots.problem
        return context
    context.update({name: publish(path) for name, path in made.items() if path is not None})
    context["psd_points"] = publish(plots.psd_points) if plots.psd_points else None
    return context


def _meta(meta: Download | None) -> MetaView:
    if meta is None:
        return MetaView(problem="no metadata file listed beside it")
    if meta.file is None:
        return MetaView(problem=f"metadata not read: {meta.why_not or 'not on this machine'}")
    return read_meta_file(meta.file)
