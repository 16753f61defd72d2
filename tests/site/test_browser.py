"""The built site in headless Chromium (Debian's), served over HTTP as a web host would.

Walks home -> experiment -> run, downloads an output, loads the PSD plot and
a recording's I/Q-against-time and constellation plots,
searches, checks that hostile text stays text and that README links written
to run script (character references, odd case, tabs in the scheme, raw HTML)
run nothing when clicked, and saves a screenshot of a run page under
.cache/site-tests/ for review.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright import sync_api as playwright  # a dev dependency: never skipped

from tests.testing.repos import PROJECT
from tests.testing.sites import (
    LINK_TITLE,
    add_experiment,
    add_run,
    break_manifests,
    build_site,
    make_example_site_repo,
    tone,
)

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOT = PROJECT / ".cache" / "site-tests" / "run-page.png"
LINK_RUN = "20261122T101502Z-9f8e7d6c"
PAIR = ("20261123T100000Z-0000000a", "20261123T110000Z-0000000b")
HOSTILE_PARAMETER = "<img src=x onerror=window.__xss=1>"

# README links and images whose address runs code once a browser decodes it
# (character references, mixed case, tabs and newlines in the scheme), and
# raw HTML; each would set window.__xss or open a dialog if it ever ran.
RUN = "window.__xss=1"
XSS_ADDRESSES = [
    f"&#106;avascript:{RUN}",
    "&#106;avascript:alert(document.domain)",
    f"javascript&#58;{RUN}",
    f"&#x6A;avascript:{RUN}",
    f"&#X6a;&#x61;vascript:{RUN}",
    f"javascript&colon;{RUN}",
    f"JaVaScRiPt:{RUN}",
    f"java&#9;script:{RUN}",
    f"java&#10;script:{RUN}",
    f"java&Tab;script:{RUN}",
    f"&#1;javascript:{RUN}",
    f"&amp;#106;avascript:{RUN}",
    f"&#100;ata:text/html,<script>{RUN}</script>",
    f"data:text/html,<script>parent.{RUN}</script>",
    f"vbscript:{RUN}",
]
XSS_README = "\n\n".join(
    [
        "# Links",
        *(f"[link {i}]({url})" for i, url in enumerate(XSS_ADDRESSES)),
        *(f"![image {i}]({url})" for i, url in enumerate(XSS_ADDRESSES)),
        f'<a href="javascript:{RUN}">raw link</a>',
        f"<img src=x onerror={RUN}>",
        f"<script>{RUN}</script>",
        f"<svg onload={RUN}></svg>",
        "[a relative link](#readme) and [a web link](https://example.org/)",
    ]
)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    repo = make_example_site_repo(tmp_path_factory.mktemp("site"))
    break_manifests(repo)
    add_experiment(repo, "readme-links", title="README links", readme=XSS_README)
    add_experiment(repo, "pair", title="Two runs to compare")
    add_run(repo, "pair", PAIR[0], metrics={"snr_db": 10.0}, recording=tone(frequency=125e3))
    second = add_run(
        repo, "pair", PAIR[1], metrics={"snr_db": 12.5}, recording=tone(frequency=-200e3)
    )
    manifest = json.loads((second / "manifest.json").read_text(encoding="utf-8"))
    manifest["parameters"]["greeting"] = HOSTILE_PARAMETER
    (second / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    site, _ = build_site(repo)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", repo
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[playwright.Browser]:
    if not CHROMIUM.is_file():
        pytest.fail("Debian's chromium is not installed: scripts/testbed up installs it")
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: playwright.Browser) -> Iterator[playwright.Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


def test_home_to_run_download_and_plot(site_url: tuple[str, Path], page: playwright.Page) -> None:
    base, repo = site_url
    page.goto(base)
    page.get_by_role("link", name=LINK_TITLE).first.click()
    page.wait_for_url("**/experiments/link/")
    page.get_by_role("link", name=LINK_RUN).first.click()
    page.wait_for_url(f"**/experiments/link/runs/{LINK_RUN}/")

    manifest = json.loads((repo / "experiments/link/runs" / LINK_RUN / "manifest.json").read_text())
    greeting = next(o for o in manifest["outputs"] if o["path"] == "greeting.txt")
    link = page.locator('a[download="greeting.txt"]')
    response = page.request.get(link.evaluate("a => a.href"))
    assert response.ok
    assert hashlib.sha256(response.body()).hexdigest() == greeting["sha256"]
    assert response.headers["content-type"] == "application/octet-stream"

    plot = page.locator("img.radiops-psd")
    plot.scroll_into_view_if_needed()
    page.wait_for_function("document.querySelector('img.radiops-psd').complete")
    assert plot.evaluate("img => img.naturalWidth") > 0
    assert page.locator("img.radiops-spectrogram").evaluate("img => img.naturalWidth") > 0

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    print(f"run page screenshot: {SCREENSHOT}")


def test_a_recordings_time_and_constellation_plots_are_shown(
    site_url: tuple[str, Path], page: playwright.Page
) -> None:
    base, _ = site_url
    page.goto(f"{base}experiments/link/runs/{LINK_RUN}/")
    for view in ("time", "constellation", "spectrogram"):
        plot = page.locator(f"img.radiops-{view}")
        plot.scroll_into_view_if_needed()
        assert plot.is_visible(), view
        page.wait_for_function(f"document.querySelector('img.radiops-{view}').complete")
        box = plot.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 100, view
        assert plot.evaluate("img => img.naturalWidth * img.naturalHeight") > 0, view
        # drawn for real: the plot's colours, not only a white page, reach the screen
        # (the constellation's and spectrogram's rasters are PNGs inside the SVG)
        colours = plot.evaluate(
            """img => {
                const canvas = document.createElement('canvas');
                canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
                const context = canvas.getContext('2d');
                context.drawImage(img, 0, 0);
                const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
                const seen = new Set();
                for (let i = 0; i < pixels.length; i += 4 * 7) {
                    seen.add(pixels[i] + ',' + pixels[i + 1] + ',' + pixels[i + 2]);
                }
                return Array.from(seen);
            }"""
        )
        assert len(colours) > 10, view
        if view != "time":  # the ramp's dark end fills most of a raster
            assert "68,1,84" in colours, view
        else:  # I's blue band, half transparent over white
            rgb = [tuple(map(int, c.split(","))) for c in colours]
            assert any(b > r + 40 for r, _, b in rgb), view


def test_the_compare_page_shows_the_diff_and_the_psds_overlaid(
    site_url: tuple[str, Path], page: playwright.Page
) -> None:
    base, _ = site_url
    page.goto(f"{base}experiments/pair/")
    page.get_by_role("link", name="Compare two runs").click()
    page.wait_for_url("**/experiments/pair/compare/")
    page.select_option("#radiops-compare-a", PAIR[1])
    page.select_option("#radiops-compare-b", PAIR[0])
    lines = page.locator("svg.radiops-overlay polyline.radiops-psd-line")
    lines.first.wait_for()
    assert lines.count() == 2
    box = page.locator("svg.radiops-overlay").bounding_box()
    assert box is not None and box["width"] > 300
    # the two tones' peaks: each line reaches the top of the plot somewhere else
    peaks = lines.evaluate_all(
        """ls => ls.map(l => l.getAttribute('points').split(' ').map(p => p.split(',').map(Number))
            .reduce((best, p) => (p[1] < best[1] ? p : best))[0])"""
    )
    assert abs(peaks[0] - peaks[1]) > 50
    status = page.locator("#radiops-compare-status").inner_text()
    assert f"A: {PAIR[0]}" in status and f"B: {PAIR[1]}" in status
    diff = page.locator("#radiops-compare-diff")
    metrics = diff.locator("tr", has_text="snr_db").inner_text()
    assert "10" in metrics and "12.5" in metrics
    assert HOSTILE_PARAMETER in diff.locator("tr", has_text="greeting").inner_text()  # as text
    assert page.evaluate("window.__xss") is None
    assert page.locator("#radiops-compare-diff img").count() == 0


def test_search_finds_an_experiment_by_a_word_of_its_title(
    site_url: tuple[str, Path], page: playwright.Page
) -> None:
    base, _ = site_url
    page.goto(base)
    page.locator("input.md-search__input").click()
    page.keyboard.type("budget", delay=50)
    result = page.locator(".md-search-result__item", has_text=LINK_TITLE).first
    result.wait_for(timeout=15000)
    assert "experiments/link/" in (result.locator("a").first.get_attribute("href") or "")


def test_hostile_text_is_shown_and_never_run(
    site_url: tuple[str, Path], page: playwright.Page
) -> None:
    base, _ = site_url
    for path in (
        "",
        "experiments/",
        "experiments/hostile/",
        "experiments/hostile/runs/20261120T080000Z-0000abcd/",
    ):
        page.goto(base + path)
        assert page.evaluate("typeof window.__pwned") == "undefined", path
        assert "<script>window.__pwned" in page.locator("body").inner_text(), path


def test_readme_links_never_run_script(site_url: tuple[str, Path], page: playwright.Page) -> None:
    base, _ = site_url
    dialogs: list[str] = []

    def refuse(dialog: playwright.Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    page.goto(base + "experiments/readme-links/")
    readme = page.locator(".radiops-readme")
    links = readme.locator("a")
    assert links.count() == len(XSS_ADDRESSES) + 2
    for i in range(len(XSS_ADDRESSES)):
        link = links.nth(i)
        assert link.inner_text() == f"link {i}"
        link.click()  # nothing to follow: the page stays
        page.wait_for_timeout(50)
        assert page.evaluate("typeof window.__xss") == "undefined", XSS_ADDRESSES[i]
        assert dialogs == [], XSS_ADDRESSES[i]
        assert link.get_attribute("href") is None, XSS_ADDRESSES[i]
    images = readme.locator("img")
    assert images.count() == len(XSS_ADDRESSES)
    for i in range(images.count()):
        assert images.nth(i).get_attribute("src") is None, XSS_ADDRESSES[i]
    # raw HTML is shown as text, not run
    text = readme.inner_text()
    assert "<script>window.__xss=1</script>" in text and "onerror=" in text
    # the two harmless links keep their address
    assert links.nth(len(XSS_ADDRESSES)).get_attribute("href") == "#readme"
    assert links.nth(len(XSS_ADDRESSES) + 1).get_attribute("href") == "https://example.org/"
    page.wait_for_timeout(300)  # time for a late onerror or onload
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert dialogs == []
    assert page.url.endswith("/experiments/readme-links/")

    # the control: in this browser, a javascript: link that survived would run when clicked
    page.evaluate(
        "() => { const a = document.createElement('a'); a.id = 'control';"
        " a.href = 'javascript:window.__xss=1'; a.textContent = 'control';"
        " document.body.prepend(a); }"
    )
    page.locator("#control").click()
    page.wait_for_function("window.__xss === 1", timeout=5000)


def test_broken_manifests_show_a_visible_warning(
    site_url: tuple[str, Path], page: playwright.Page
) -> None:
    base, _ = site_url
    page.goto(base + "experiments/broken/")
    warning = page.locator(".admonition.warning")
    assert warning.is_visible()
    assert "manifest.json" in warning.inner_text()


def test_the_experiments_table_sorts_and_filters(
    site_url: tuple[str, Path], page: playwright.Page
) -> None:
    base, _ = site_url
    page.goto(base + "experiments/")
    rows = page.locator("#radiops-experiments tbody tr")
    page.locator("#radiops-experiments th", has_text="Name").click()
    page.locator("#radiops-experiments th", has_text="Name").click()
    assert rows.first.inner_text().startswith("sweep")
    page.locator("input.radiops-filter").fill("sigmf")
    visible = [r for r in rows.all() if r.is_visible()]
    assert len(visible) == 1 and visible[0].inner_text().startswith("link")


def test_screenshot_folder_is_ignored_by_git() -> None:
    # git itself says so (git is a dependency of radiops: the suite needs it anyway)
    relative = str(SCREENSHOT.relative_to(PROJECT))
    result = subprocess.run(
        ["git", "-C", str(PROJECT), "check-ignore", "--no-index", "--quiet", relative],
        check=False,
    )
    assert result.returncode == 0, f"{relative} is not ignored by git"
