"""The mkdocs plugin ``radiops``: pages for every experiment and run, made at build time.

Enable it in mkdocs.yml (``plugins: [search, radiops]``); ``mkdocs build``,
``mkdocs serve`` and ``radiops site build|serve`` then read the repository
around mkdocs.yml. Generated pages reach mkdocs as placeholders whose content
this plugin replaces with HTML rendered from jinja2 templates (autoescaped),
so nothing a pull request wrote is ever read as Markdown or HTML by mkdocs.
Experiment and run pages stay out of the navigation (its cost grows with the
square of the pages it lists); run pages are left out of the search index,
which reads a short text of each experiment page; both, when unchanged, are
copied whole from the build cache instead of rendered again (an experiment
page's search entries with it), into the folders of the previous build
(runner/site/folders.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from mkdocs.config import base
from mkdocs.config import config_options as c
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.livereload import LiveReloadServer
from mkdocs.plugins import BasePlugin, event_priority
from mkdocs.structure.files import File, Files, InclusionLevel
from mkdocs.structure.pages import Page as MkdocsPage

from runner import __version__
from runner.model.repo import EXPERIMENTS, IMAGES
from runner.model.testbed import TESTBED_FILE
from runner.site import urls
from runner.site.cache import BuildCache
from runner.site.collect import collect
from runner.site.downloads import Checked, NotPublished, publish
from runner.site.folders import put_back, remove_empty, set_aside
from runner.site.pages import Page, SitePlan, placeholder, plan_site
from runner.site.render import render, templates_hash
from runner.site.search import update_index

log = logging.getLogger("mkdocs.plugins.radiops")

ASSETS = ("assets/radiops/site.css", "assets/radiops/tables.js", "assets/radiops/compare.js")


class RadiopsConfig(base.Config):  # type: ignore[no-untyped-call]
    repository = c.Type(str, default=".")
    """The experiment repository, relative to mkdocs.yml."""
    cache_dir = c.Type(str, default=".cache/radiops-site")
    """The build cache (plots, scenarios, pages), relative to the repository; keep it out of git."""


class RadiopsPlugin(BasePlugin[RadiopsConfig]):  # type: ignore[no-untyped-call]
    """Generates the experiment, run, image and node pages of the testbed's site."""

    def __init__(self) -> None:
        self.root = Path()
        self.cache = BuildCache(Path(".cache/radiops-site"))
        self.plan = SitePlan()
        self.rendered: dict[str, Page] = {}
        self.full_html: dict[str, str] = {}  # pages whose search text is not their content
        self.search_rendered: dict[str, Path] = {}  # page URL -> its search entries to keep
        self.search_copied: dict[str, Path] = {}  # page URL -> its kept search entries
        self.from_cache = 0
        self.folders_kept = False

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        here = Path(config.config_file_path or ".").resolve().parent
        self.root = (here / self.config.repository).resolve()
        for asset in ASSETS:
            target = config.extra_css if asset.endswith(".css") else config.extra_javascript
            if asset not in target:
                target.append(asset)
        return config

    def on_pre_build(self, *, config: MkDocsConfig) -> None:
        self.folders_kept = set_aside(Path(config.site_dir), self._held_folders())

    def on_files(self, files: Files, *, config: MkDocsConfig) -> Files:
        if self.folders_kept:  # mkdocs has cleaned the site directory by now
            put_back(Path(config.site_dir), self._held_folders())
        self.cache = BuildCache(self.root / self.config.cache_dir)
        data = collect(self.root, cache=self.cache)
        links = urls.Links(directory_urls=config.use_directory_urls)
        self.plan = plan_site(data, cache=self.cache, links=links, shell=_shell(config, files))
        self.rendered, self.from_cache = {}, 0
        self.search_rendered, self.search_copied = {}, {}
        taken = {file.src_uri for file in files}
        for page in self.plan.pages:
            if page.src_uri in taken:
                log.warning(f"radiops: {page.src_uri} exists in docs_dir; not generated")
                continue
            if page.cache_key is not None:
                cached = self.cache.path("pages", page.cache_key, ".html")
                entries = self.cache.path("pages", page.cache_key, "-search.json")
                url = links.url(page.src_uri)
                if cached.is_file() and (not page.searchable or entries.is_file()):
                    html_uri = page.src_uri.removesuffix(".md") + ".html"
                    files.append(_LinkedFile.generated(config, html_uri, abs_src_path=str(cached)))
                    self.from_cache += 1
                    if page.searchable:
                        self.search_copied[url] = entries
                    continue
                if page.searchable:
                    self.search_rendered[url] = entries
            inclusion = InclusionLevel.UNDEFINED if page.in_nav else InclusionLevel.NOT_IN_NAV
            files.append(
                File.generated(config, page.src_uri, content=placeholder(page), inclusion=inclusion)
            )
            self.rendered[page.src_uri] = page
        for src_uri, source in self.plan.copies.items():
            if src_uri in taken:
                log.warning(f"radiops: {src_uri} exists in docs_dir; not published")
                continue
            if isinstance(source, Checked):
                files.append(_PublishedFile.of(config, src_uri, source))
            else:
                files.append(_LinkedFile.generated(config, src_uri, abs_src_path=str(source)))
        for asset in ASSETS:
            content = _asset(Path(asset).name)
            files.append(File.generated(config, asset, content=content))
        return files

    def on_page_content(
        self, html: str, *, page: MkdocsPage, config: MkDocsConfig, files: Files
    ) -> str:
        generated = self.rendered.get(page.file.src_uri)
        if generated is not None and generated.search_template is not None:
            self.full_html[page.file.src_uri] = render(generated.template, generated.context)
            return render(generated.search_template, generated.context)
        if generated is not None:
            return render(generated.template, generated.context)
        if page.file.src_uri == urls.HOME:
            return html + render("latest.html", self.plan.latest)
        return html

    @event_priority(-100)  # after the search plugin has read the page's search text
    def on_page_context(
        self, context: Any, *, page: MkdocsPage, config: MkDocsConfig, nav: Any
    ) -> Any:
        full = self.full_html.pop(page.file.src_uri, None)
        if full is not None:
            page.content = full
        return context

    @event_priority(-100)  # after every other plugin: the cache keeps the final page
    def on_post_page(self, output: str, *, page: MkdocsPage, config: MkDocsConfig) -> str:
        generated = self.rendered.get(page.file.src_uri)
        if generated is not None and generated.cache_key is not None:
            path = self.cache.path("pages", generated.cache_key, ".html")
            self.cache.write(path, output.encode("utf-8", errors="xmlcharrefreplace"))
        return output

    @event_priority(-100)  # after the search plugin has written its index
    def on_post_build(self, *, config: MkDocsConfig) -> None:
        update_index(
            Path(config.site_dir),
            self.cache,
            rendered=self.search_rendered,
            copied=self.search_copied,
        )
        remove_empty(Path(config.site_dir))
        removed = self.cache.prune()
        hits, misses = self.cache.hits, self.cache.misses
        log.info(
            f"radiops: {len(self.plan.pages)} generated pages ({self.from_cache} from the "
            f"cache), {self.cache.written} cache entries written, {removed} unused removed; "
            f"scenarios: {hits['scenarios']} from the cache, {misses['scenarios']} read; "
            f"manifests: {hits['manifests']} known valid, {misses['manifests']} checked"
        )

    def _held_folders(self) -> Path:
        return self.root / self.config.cache_dir / "site-folders"

    def on_serve(
        self, server: LiveReloadServer, *, config: MkDocsConfig, builder: Any
    ) -> LiveReloadServer:
        for name in (EXPERIMENTS, IMAGES, TESTBED_FILE):
            if (self.root / name).exists():
                server.watch(str(self.root / name))
        return server


class _LinkedFile(File):
    """A file put into the site as a hard link when the file system allows, else copied.

    A site holds a copy of every published output and log: linking them (and
    the cached pages and plots) instead of copying keeps rebuilds quick.
    """

    def copy_file(self, dirty: bool = False) -> None:
        if self.abs_src_path is None:
            super().copy_file(dirty)
            return
        # tens of thousands of files: the common case (a new link in an existing
        # folder) costs one system call
        source, target = self.abs_src_path, self.abs_dest_path
        try:
            os.link(source, target)
        except FileNotFoundError:  # the folder is not there yet
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            self._link_or_copy(dirty)
        except FileExistsError:  # left by an earlier build (mkdocs build --dirty, serve)
            Path(target).unlink()
            self._link_or_copy(dirty)
        except OSError:
            super().copy_file(dirty)

    def _link_or_copy(self, dirty: bool) -> None:
        try:
            os.link(self.abs_src_path or "", self.abs_dest_path)
        except OSError:
            super().copy_file(dirty)


class _PublishedFile(File):
    """A run's output or log, put into the site as the very file whose bytes were hashed.

    ``downloads.publish`` links it without following a link, or copies it
    hashing as it goes; a file that changed since it was checked is left out
    (with an error: the page offers it).
    """

    checked: Checked

    @classmethod
    def of(cls, config: MkDocsConfig, src_uri: str, checked: Checked) -> _PublishedFile:
        file = cls.generated(config, src_uri, abs_src_path=str(checked.path))
        assert isinstance(file, cls)
        file.checked = checked
        return file

    def copy_file(self, dirty: bool = False) -> None:
        try:
            publish(self.checked, Path(self.abs_dest_path))
        except (NotPublished, OSError) as error:
            log.error(f"radiops: {self.src_uri} ({self.checked.relative}) left out: {error}")


def _asset(name: str) -> str:
    return resources.files("runner.site").joinpath("assets", name).read_text(encoding="utf-8")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def _shell(config: MkDocsConfig, files: Files) -> str:
    """A hash of what surrounds every page: versions, mkdocs.yml, hand-written pages."""
    digest = hashlib.sha256()
    for part in (
        __version__,
        _version("mkdocs"),
        _version("mkdocs-material"),
        str(config.theme.name),
        templates_hash(),
        str(config.site_url),
        str(config.use_directory_urls),
    ):
        digest.update(part.encode() + b"\0")
    if config.config_file_path:
        digest.update(Path(config.config_file_path).read_bytes())
    for file in sorted(files, key=lambda f: f.src_uri):
        if file.is_documentation_page() and file.abs_src_path:
            digest.update(file.src_uri.encode() + b"\0" + Path(file.abs_src_path).read_bytes())
    custom = config.theme.custom_dir
    if custom:
        for path in sorted(Path(custom).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(custom)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
