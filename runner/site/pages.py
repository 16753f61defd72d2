"""The generated pages of a site: which there are, their placeholders and cache keys."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.site import compare, experiment_view, urls, views
from runner.site.cache import BuildCache, content_key
from runner.site.collect import ExperimentRecord, RunRecord, SiteData
from runner.site.downloads import Checked


@dataclass(frozen=True, kw_only=True)
class Page:
    """One generated page: mkdocs gets a placeholder; ``on_page_content`` puts the HTML in."""

    src_uri: str
    title: str
    template: str
    context: dict[str, Any]
    in_nav: bool  # False: reached from tables, kept out of the navigation
    searchable: bool
    search_template: str | None = None  # set: search indexes this shorter text of the page
    cache_key: str | None = None  # set for pages whose whole HTML may come from the cache


@dataclass(kw_only=True)
class SitePlan:
    pages: list[Page] = field(default_factory=list)
    # site path -> file to copy: a cached plot, or a run's file whose bytes were checked
    copies: dict[str, Path | Checked] = field(default_factory=dict)
    latest: dict[str, Any] = field(default_factory=dict)  # the home page's latest runs


def plan_site(data: SiteData, *, cache: BuildCache, links: urls.Links, shell: str) -> SitePlan:
    """Every generated page and copied file, made from ``data``.

    ``shell`` stands for everything around a page's content (theme, mkdocs.yml,
    hand-written pages): an experiment or run page's cache key hashes it with
    the page's own context, so the cached HTML is used only when neither changed.
    """
    plan = SitePlan(latest=views.latest_context(data, links))
    plan.pages += [
        Page(
            src_uri=src_uri,
            title=title,
            template=template,
            context=make_context(data, links),
            in_nav=True,
            searchable=True,
        )
        for src_uri, title, template, make_context in _INDEX_PAGES
    ]
    for experiment in data.experiments:
        plan.pages.append(_experiment_page(experiment, links, cache, plan.copies, shell))
        compared = {run.run_id for run in compare.compared_runs(experiment)}
        for run in experiment.runs:
            context = views.run_context(run, experiment, data, links, cache, plan.copies)
            plan.pages.append(_run_page(run, context, shell))
            if run.run_id in compared:  # its compare file: the compare page offers it
                text = compare.run_json(run, context.get("outputs", []))
                site_path = urls.run_json(run.experiment, run.run_id)
                _publish_json(text, site_path, cache, plan.copies)
        if len(compared) >= 2:
            plan.pages.append(_compare_page(experiment, links, cache, plan.copies, shell))
    return plan


def _compare_page(
    experiment: ExperimentRecord,
    links: urls.Links,
    cache: BuildCache,
    copies: dict[str, Path | Checked],
    shell: str,
) -> Page:
    # the diffs are remade only when a compared run or the tolerances changed
    path = cache.path("compare", compare.pairs_key(experiment), ".json")
    if not path.is_file():
        cache.write(path, compare.pairs_json(experiment).encode("utf-8"))
    copies[urls.compare_pairs(experiment.name)] = path
    context = compare.compare_context(experiment, links)
    return Page(
        src_uri=urls.compare_page(experiment.name),
        title=context["title"],
        template="compare.html",
        context=context,
        in_nav=False,
        searchable=False,
        cache_key=content_key(shell, urls.compare_page(experiment.name), _json(context)),
    )


def _publish_json(
    text: str, site_path: str, cache: BuildCache, copies: dict[str, Path | Checked]
) -> None:
    """``text`` into the cache under its hash (once), published at ``site_path``."""
    path = cache.path("compare", content_key(text), ".json")
    if not path.is_file():
        cache.write(path, text.encode("utf-8"))
    copies[site_path] = path


_INDEX_PAGES: tuple[tuple[str, str, str, Callable[[SiteData, urls.Links], dict[str, Any]]], ...] = (
    (urls.EXPERIMENTS, "Experiments", "experiments.html", views.experiments_context),
    (urls.IMAGES, "Images", "images.html", views.images_context),
    (urls.NODES, "Testbed nodes", "nodes.html", views.nodes_context),
)


def _experiment_page(
    experiment: ExperimentRecord,
    links: urls.Links,
    cache: BuildCache,
    copies: dict[str, Path | Checked],
    shell: str,
) -> Page:
    src_uri = urls.experiment_page(experiment.name)
    context = experiment_view.experiment_context(experiment, links, cache, copies)
    return Page(
        src_uri=src_uri,
        title=experiment.title,
        template="experiment.html",
        context=context,
        in_nav=False,
        searchable=True,
        # its title, description, tags, README and run ids: the search
        # plugin parses every page it indexes, and the tables are long
        search_template="experiment_search.html",
        cache_key=content_key(shell, src_uri, _json(context)),
    )


def _run_page(run: RunRecord, context: dict[str, Any], shell: str) -> Page:
    src_uri = urls.run_page(run.experiment, run.run_id)
    return Page(
        src_uri=src_uri,
        title=context["title"],
        template="run.html",
        context=context,
        in_nav=False,
        searchable=False,  # runs are found through their experiment's page
        # the manifest ("m") is its bytes' hash: quicker than its JSON
        cache_key=content_key(
            shell, src_uri, run.manifest_sha256 or "", _json({**context, "m": None})
        ),
    )


def _json(context: dict[str, Any]) -> str:
    return json.dumps(context, sort_keys=True, default=str)


def placeholder(page: Page) -> str:
    """The Markdown mkdocs reads for ``page``: front matter only.

    The title is HTML-escaped here because themes print ``page.meta.title``
    into the page without escaping it.
    """
    meta: dict[str, Any] = {"title": html.escape(page.title)}
    if not page.searchable:
        meta["search"] = {"exclude": True}
    return f"---\n{json.dumps(meta)}\n---\n"
