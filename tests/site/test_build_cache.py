"""The build cache never serves stale pages, and spares what did not change.

Every rebuild here goes through ``radiops site build`` in a new process, as a
user's would; the plugin's last log line says what came from the cache.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from tests.testing.sites import (
    LINK_TITLE,
    add_run,
    break_manifests,
    build_site,
    make_example_site_repo,
)

SWEEP = "experiments/sweep"
CHANGED_RUN = f"{SWEEP}/runs/20261121T090000Z-00000000"
UNCHANGED_RUN = f"{SWEEP}/runs/20261121T090001Z-00000001"


def _stats(printed: str) -> dict[str, int]:
    """The counts of the plugin's summary line."""
    line = next(line for line in printed.splitlines() if "generated pages" in line)
    patterns = {
        "pages": r"(\d+) generated pages",
        "pages_cached": r"\((\d+) from the cache\)",
        "scenarios_cached": r"scenarios: (\d+) from the cache",
        "scenarios_read": r"(\d+) read",
        "manifests_known": r"(\d+) known valid",
        "manifests_checked": r"(\d+) checked",
    }
    found = {name: re.search(pattern, line) for name, pattern in patterns.items()}
    assert all(found.values()), line
    return {name: int(match.group(1)) for name, match in found.items() if match}


def _edit_in_place(path: Path, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` (as long) keeping the file's size and mtime."""
    assert len(old) == len(new)
    before = path.stat()
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_a_changed_manifest_is_rendered_again_and_the_others_are_not_checked(
    tmp_path: Path,
) -> None:
    repo = make_example_site_repo(tmp_path)
    _, printed = build_site(repo)
    first = _stats(printed)
    assert first["pages_cached"] == 0
    assert first["manifests_checked"] == 5 and first["scenarios_read"] == 3

    # same size, same mtime: only the bytes say that it changed
    _edit_in_place(repo / CHANGED_RUN / "manifest.json", '"snr_db": 3.0', '"snr_db": 7.5')
    site, printed = build_site(repo)
    stats = _stats(printed)
    # the changed manifest alone is read strictly and checked against the schema
    assert (stats["manifests_known"], stats["manifests_checked"]) == (4, 1)
    assert (stats["scenarios_cached"], stats["scenarios_read"]) == (3, 0)
    # its run page and its experiment's page are rendered; the 4 other run
    # pages and the 2 other experiments' pages come from the cache
    assert stats["pages_cached"] == 7  # the compare page too
    run_page = (site / CHANGED_RUN / "index.html").read_text(encoding="utf-8")
    assert "7.5" in run_page
    experiment_page = (site / SWEEP / "index.html").read_text(encoding="utf-8")
    assert "7.5" in experiment_page
    # an unchanged page is the cached file itself, linked into the site
    unchanged = site / UNCHANGED_RUN / "index.html"
    cached = list((repo / ".cache/radiops-site/pages").glob("*/*.html"))
    assert any(unchanged.samefile(entry) for entry in cached)


def test_a_changed_scenario_or_readme_changes_the_experiment_page(tmp_path: Path) -> None:
    repo = make_example_site_repo(tmp_path)
    build_site(repo)
    scenario = repo / "experiments/link/experiment.yaml"
    _edit_in_place(scenario, "Two-node link budget", "Two-node LINK BUDGET")
    (repo / "experiments/sweep/README.md").write_text("# Sweep\n\nNewly *written*.\n")
    site, printed = build_site(repo)
    stats = _stats(printed)
    assert (stats["scenarios_cached"], stats["scenarios_read"]) == (2, 1)
    assert (stats["manifests_known"], stats["manifests_checked"]) == (5, 0)
    link = (site / "experiments/link/index.html").read_text(encoding="utf-8")
    assert "Two-node LINK BUDGET" in link
    sweep = (site / "experiments/sweep/index.html").read_text(encoding="utf-8")
    assert "Newly <em>written</em>" in sweep
    index = (site / "experiments/index.html").read_text(encoding="utf-8")
    assert "Two-node LINK BUDGET" in index


def test_a_broken_scenario_is_cached_with_its_problems(tmp_path: Path) -> None:
    repo = make_example_site_repo(tmp_path)
    break_manifests(repo)
    scenario = repo / "experiments/link/experiment.yaml"
    scenario.write_text(scenario.read_text().replace("duration: 30s", "duration: soon"))
    for _ in range(2):  # read, then from the cache: the same warnings
        site, printed = build_site(repo)
        page = (site / "experiments/link/index.html").read_text(encoding="utf-8")
        assert 'class="admonition warning' in page and "soon" in page
        broken = (site / "experiments/broken/index.html").read_text(encoding="utf-8")
        assert "exploded" in broken
    stats = _stats(printed)
    assert (stats["scenarios_cached"], stats["scenarios_read"]) == (4, 0)
    # broken manifests are never known valid: they are checked at every build
    assert stats["manifests_checked"] == 2


def test_pages_from_the_cache_stay_in_the_search_index(tmp_path: Path) -> None:
    repo = make_example_site_repo(tmp_path)
    site, _ = build_site(repo)
    fresh = json.loads((site / "search/search_index.json").read_text(encoding="utf-8"))
    site, printed = build_site(repo)
    assert _stats(printed)["pages_cached"] == 9  # the compare page too
    again = json.loads((site / "search/search_index.json").read_text(encoding="utf-8"))
    assert sorted(map(json.dumps, again["docs"])) == sorted(map(json.dumps, fresh["docs"]))
    link = [doc for doc in again["docs"] if doc["location"] == "experiments/link/"]
    assert link and LINK_TITLE in link[0]["title"]


def _tree(site: Path) -> dict[str, bytes]:
    """Every file of a built site, by path, with its bytes (folders: empty bytes)."""
    return {
        path.relative_to(site).as_posix(): b"" if path.is_dir() else path.read_bytes()
        for path in site.rglob("*")
    }


def test_a_rebuild_into_the_kept_folders_is_a_clean_build(tmp_path: Path) -> None:
    repo = make_example_site_repo(tmp_path)
    build_site(repo)
    site, _ = build_site(repo)  # unchanged pages are now hard links to cache entries
    cache = repo / ".cache/radiops-site/pages"
    entries = {path: path.read_bytes() for path in cache.glob("*/*.html")}
    # a run removed, one added and a linked run page changed, then built into the kept folders
    shutil.rmtree(repo / "experiments/sweep/runs/20261121T090000Z-00000000")
    add_run(repo, "sweep", "20261121T090009Z-00000009", point={"gain": 30})
    _edit_in_place(
        repo / "experiments/link/runs/20261122T101502Z-9f8e7d6c/manifest.json",
        '"duration_s": 1.5',
        '"duration_s": 2.5',
    )
    (site / "experiments/stray.txt").write_text("left by hand")  # the cleaning still applies
    site, _ = build_site(repo)
    assert not (site / "experiments/sweep/runs/20261121T090000Z-00000000").exists()
    assert not (site / "experiments/stray.txt").exists()
    assert not (repo / ".cache/radiops-site/site-folders").exists()
    # writing the changed page did not write into the cache entry it was linked to
    for path, data in entries.items():
        assert not path.exists() or path.read_bytes() == data, path
    kept = _tree(site)
    # the same repository built from nothing: the same site, byte for byte
    shutil.rmtree(site)
    shutil.rmtree(repo / ".cache")
    clean = _tree(build_site(repo)[0])
    assert kept.keys() == clean.keys()
    differing = [path for path in kept if kept[path] != clean[path]]
    assert differing in ([], ["search/search_index.json"]), differing
    # the search index holds the same entries (those from the cache come last)
    index = "search/search_index.json"
    docs = [sorted(json.loads(tree[index])["docs"], key=json.dumps) for tree in (kept, clean)]
    assert docs[0] == docs[1]
