"""The plugin's pages, built for real by ``radiops site build`` from example runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from runner.site.plots import VIEWS
from tests.testing.sites import (
    HOSTILE,
    add_run,
    break_manifests,
    build_site,
    make_example_site_repo,
    set_output_sha256,
    tone,
)

LINK_RUN = "experiments/link/runs/20261122T101502Z-9f8e7d6c"


def _plots(repo: Path) -> dict[Path, int]:
    """The cached recording plots and their modification times."""
    folder = repo / ".cache/radiops-site/plots"
    found = [path for view in VIEWS for path in folder.glob(f"*/*-{view}.svg")]
    return {path: path.stat().st_mtime_ns for path in found}


def test_example_runs_validate_and_become_pages(tmp_path: Path) -> None:
    repo = make_example_site_repo(tmp_path)
    checked = subprocess.run(
        [sys.executable, "-m", "runner", "validate"], cwd=repo, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    site, _ = build_site(repo)
    run_page = (site / LINK_RUN / "index.html").read_text(encoding="utf-8")
    assert "radiops reproduce experiments/link --run 20261122T101502Z-9f8e7d6c" in run_page
    assert "docker pull radiops/hello@sha256:" in run_page
    assert 'class="radiops-psd"' in run_page
    sweep = (site / "experiments/sweep/index.html").read_text(encoding="utf-8")
    assert "snr_db against gain" in sweep and "<svg" in sweep
    index = (site / "experiments/index.html").read_text(encoding="utf-8")
    assert index.count('href="link/"') == 1 and "Gain sweep" in index
    # the images page: each digest with the runs that used it; the nodes page: the last run
    images = (site / "images/index.html").read_text(encoding="utf-8")
    digest = "sha256:a9a8fa077e26f69bcc4a7eeec6e1827a07ae07281952ae755766b9f06c8185e1"
    assert "<code>images/hello</code>" in images and f"<code>{digest}</code>" in images
    assert "<td>5: " in images  # link 1, sweep 3, hostile 1
    assert '<a href="../experiments/link/runs/20261122T101502Z-9f8e7d6c/">' in images
    nodes = (site / "nodes/index.html").read_text(encoding="utf-8")
    assert "<code>local-1</code>" in nodes
    assert '<a href="../experiments/link/runs/20261122T101502Z-9f8e7d6c/">' in nodes  # the latest
    # experiment and run pages are kept out of the search index
    search = json.loads((site / "search/search_index.json").read_text(encoding="utf-8"))
    locations = {doc["location"] for doc in search["docs"]}
    assert "experiments/link/" in locations
    assert not any("/runs/" in location for location in locations)


def test_pull_request_text_is_escaped(tmp_path: Path) -> None:
    site, _ = build_site(make_example_site_repo(tmp_path))
    for page in ("experiments/hostile/index.html", "experiments/index.html", "index.html"):
        text = (site / page).read_text(encoding="utf-8")
        assert "window.__pwned" in text, page
        assert HOSTILE not in text, page
    run_page = next((site / "experiments/hostile/runs").glob("*/index.html")).read_text()
    assert "<script>window.__pwned = 2" not in run_page
    assert "&lt;script&gt;window.__pwned = 2" in run_page


def test_broken_manifests_show_a_warning_and_the_build_succeeds(tmp_path: Path) -> None:
    repo = make_example_site_repo(tmp_path)
    break_manifests(repo)
    site, _ = build_site(repo)
    experiment = (site / "experiments/broken/index.html").read_text(encoding="utf-8")
    assert 'class="admonition warning' in experiment
    assert "20261119T070000Z-00000001/manifest.json" in experiment
    assert "exploded" in experiment  # the schema's complaint, with its position
    for run in ("20261119T070000Z-00000001", "20261119T070000Z-00000002"):
        page = (site / "experiments/broken/runs" / run / "index.html").read_text()
        assert 'class="admonition warning' in page
    index = (site / "experiments/index.html").read_text(encoding="utf-8")
    assert "broken" in index


def test_plots_are_cached_and_made_again_when_the_data_changes(tmp_path: Path) -> None:
    repo = make_example_site_repo(tmp_path)
    build_site(repo)
    first = _plots(repo)
    assert len(first) == 4  # PSD, spectrogram, time and constellation of the one recording
    _, printed = build_site(repo)
    assert _plots(repo) == first
    # unchanged run (5) and experiment (3) pages are copied, not rendered
    assert "(9 from the cache)" in printed  # with the sweep experiment's compare page
    data = repo / LINK_RUN / "outputs/hello/0/rx.sigmf-data"
    samples = np.asarray(tone(frequency=-300e3), dtype=np.complex64).tobytes()
    data.write_bytes(samples)
    # other bytes than the manifest's sha256: neither published nor plotted, and the page says so
    site, _ = build_site(repo)
    assert _plots(repo) == {}
    page = (site / LINK_RUN / "index.html").read_text(encoding="utf-8")
    assert "Files of this run not published" in page and "not plotted" in page
    # the manifest of the new data: plotted again
    set_output_sha256(repo / LINK_RUN, "rx.sigmf-data", samples)
    build_site(repo)
    second = _plots(repo)
    assert len(second) == 4 and not set(second) & set(first)  # new plots, old ones pruned


def test_a_new_run_renders_only_its_own_page(tmp_path: Path) -> None:
    repo = make_example_site_repo(tmp_path)
    site, _ = build_site(repo)
    before = (site / LINK_RUN / "index.html").read_bytes()
    add_run(repo, "sweep", "20261123T000000Z-0000ffff", point={"gain": 30}, metrics={"snr_db": 9})
    site, printed = build_site(repo)
    assert "(7 from the cache)" in printed  # every run page, the two other experiments' pages
    assert (site / LINK_RUN / "index.html").read_bytes() == before
    sweep = (site / "experiments/sweep/index.html").read_text(encoding="utf-8")
    assert "20261123T000000Z-0000ffff" in sweep


def test_site_build_reports_a_broken_mkdocs_yml(tmp_path: Path) -> None:
    repo = make_example_site_repo(tmp_path)
    (repo / "mkdocs.yml").write_text("site_name: [unclosed\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "runner", "site", "build"],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 1
    assert "radiops: the site was not built" in result.stderr
    assert "Traceback" not in result.stderr
