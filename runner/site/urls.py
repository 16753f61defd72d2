"""Where the generated pages live in the site, and links between them."""

from __future__ import annotations

from mkdocs.utils import get_relative_url

HOME = "index.md"
EXPERIMENTS = "experiments/index.md"
IMAGES = "images/index.md"
NODES = "nodes/index.md"


def experiment_page(name: str) -> str:
    return f"experiments/{name}/index.md"


def run_page(experiment: str, run_id: str) -> str:
    return f"experiments/{experiment}/runs/{run_id}/index.md"


def compare_page(experiment: str) -> str:
    return f"experiments/{experiment}/compare/index.md"


def compare_pairs(experiment: str) -> str:
    """The diffs of the compare page's pairs of runs (runner/site/compare.py)."""
    return f"experiments/{experiment}/compare/pairs.json"


def run_json(experiment: str, run_id: str) -> str:
    """A run's compare file: its commit and its recordings' PSD points."""
    return f"experiments/{experiment}/runs/{run_id}/compare.json"


def folder(src_uri: str) -> str:
    """The folder of a page's source, with a trailing slash ('' for the top)."""
    return src_uri.rpartition("/")[0] + "/" if "/" in src_uri else ""


class Links:
    """URLs of generated pages as mkdocs makes them, relative to the page being written."""

    def __init__(self, *, directory_urls: bool) -> None:
        self.directory_urls = directory_urls

    def url(self, src_uri: str) -> str:
        """The site URL of an ``.../index.md`` page or of any other file."""
        if src_uri.endswith("index.md"):
            return folder(src_uri) + ("" if self.directory_urls else "index.html")
        return src_uri

    def href(self, target: str, *, page: str) -> str:
        """A relative link from the page with source ``page`` to ``target`` (a source path)."""
        return get_relative_url(self.url(target), self.url(page))
