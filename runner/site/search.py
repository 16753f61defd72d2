"""The search index entries of pages that come whole from the build cache.

A page copied from the cache is not seen by the search plugin, so its entries
are kept beside its HTML: taken from the ``search/search_index.json`` of the
build that rendered it, put back into the index of the builds that copy it.
The index's format (``docs``: ``location``, ``title``, ``text``) is the one
mkdocs' and mkdocs-material's search plugins both write and read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.site.cache import BuildCache

log = logging.getLogger("mkdocs.plugins.radiops")

INDEX = Path("search") / "search_index.json"


def update_index(
    site_dir: Path,
    cache: BuildCache,
    *,
    rendered: Mapping[str, Path],
    copied: Mapping[str, Path],
) -> None:
    """Keep the entries of ``rendered`` pages; add those of ``copied`` pages to the index.

    Both map a page's URL to its search entries in the cache. Without an index
    (no search plugin) rendered pages keep no entries, so that they are
    rendered again, and indexed, once there is one.
    """
    index_path = site_dir / INDEX
    try:
        index = json.loads(index_path.read_bytes())
        docs: list[dict[str, Any]] = index["docs"]
    except (OSError, ValueError, KeyError, TypeError):
        if copied:
            log.warning(f"radiops: no search index in {index_path}; cached pages are not in it")
        return
    by_page: dict[str, list[dict[str, Any]]] = {url: [] for url in rendered}
    for doc in docs:
        url = str(doc.get("location", "")).partition("#")[0]
        if url in by_page:
            by_page[url].append(doc)
    for url, found in by_page.items():
        cache.write(rendered[url], json.dumps(found).encode("utf-8"))
    if not copied:
        return
    for url, path in copied.items():
        kept = _entries(path)
        if kept is None:
            log.warning(f"radiops: the cached search entries of {url} are unreadable")
            continue
        docs.extend(kept)
    index.pop("index", None)  # a prebuilt lunr index (mkdocs' prebuild_index) lacks them
    index_path.write_bytes(json.dumps(index, separators=(",", ":")).encode("utf-8"))


def _entries(path: Path) -> list[dict[str, Any]] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        return None
    return data
