"""Markdown from a pull request (experiment READMEs) rendered without raw HTML.

Python-Markdown passes raw HTML through; here its two HTML readers are
removed, so ``<script>`` is shown as text, and links or images whose address
could run code or embed content (``javascript:``, ``data:``, ...) lose it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import markdown
from markdown.treeprocessors import Treeprocessor

_SAFE_SCHEME = re.compile(r"^(?:https?:|mailto:|#|/|\./|\.\./|[^:/?#]*(?:[/?#]|$))", re.I)


class _DropUnsafeUrls(Treeprocessor):
    def run(self, root: ET.Element) -> None:
        for element in root.iter():
            for attribute in ("href", "src"):
                value = element.get(attribute)
                if value is not None and not is_safe_url(value):
                    del element.attrib[attribute]
            if element.tag == "a" and element.get("href"):
                element.set("rel", "nofollow noopener")


def is_safe_url(url: str) -> bool:
    """True for web, mail and relative addresses; False for any other scheme."""
    cleaned = "".join(ch for ch in url if ch > " " and ch != "\x7f")
    return bool(_SAFE_SCHEME.match(cleaned))


def render_markdown(text: str) -> str:
    """HTML of ``text`` with raw HTML shown as text and unsafe addresses removed."""
    md = markdown.Markdown(extensions=["tables", "fenced_code", "sane_lists"])
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    md.treeprocessors.register(_DropUnsafeUrls(md), "radiops-safe-urls", 0)
    html: str = md.convert(text)
    return html
