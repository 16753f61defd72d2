"""Markdown from a pull request (experiment READMEs) rendered without raw HTML.

Three layers, each enough on its own for what it covers:

- Python-Markdown passes raw HTML through; here its two HTML readers are
  removed, so ``<script>`` or ``<img onerror=...>`` is shown as text.
- Every link and image address is judged as a browser reads it: character
  references (``&#106;``, ``&#x6A;``, ``&colon;``) decoded until nothing
  changes, tabs, newlines and controls removed. One whose scheme could run
  code or embed content (``javascript:``, ``data:``, ...) loses its address;
  the others are written back decoded, so the page holds what was judged.
- The HTML then goes through nh3 (an allowlist sanitizer, html5ever's
  parsing): only the tags and attributes Markdown makes for a README are
  kept, and ``href``/``src`` only with a web or mail scheme, or relative.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

import markdown
import nh3
from markdown.treeprocessors import Treeprocessor

_SAFE_SCHEME = re.compile(r"^(?:https?:|mailto:|#|/|\./|\.\./|[^:/?#]*(?:[/?#]|$))", re.I)
_MAX_DECODES = 8  # more nested references than this: judged unsafe
_TABLE_ALIGN = re.compile(r"^\s*text-align:\s*(left|right|center)\s*;?\s*$")

#: what Markdown (tables, fenced code, sane lists) makes of a README, and no more
TAGS = frozenset(
    {
        *("p", "br", "hr", "blockquote", "pre", "code", "em", "strong"),
        *("h1", "h2", "h3", "h4", "h5", "h6"),
        *("ul", "ol", "li"),
        *("table", "thead", "tbody", "tr", "th", "td"),
        *("a", "img"),
    }
)
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})  # and relative addresses
LINK_REL = "nofollow noopener noreferrer"


class _JudgeUrls(Treeprocessor):
    def run(self, root: ET.Element) -> None:
        for element in root.iter():
            for attribute in ("href", "src"):
                value = element.get(attribute)
                if value is None:
                    continue
                decoded = decode_references(value)
                if decoded is None or not is_safe_url(decoded):
                    del element.attrib[attribute]
                else:
                    element.set(attribute, decoded)
            # table alignment as the allowlisted attribute, not as a style
            style = element.attrib.pop("style", None)
            align = _TABLE_ALIGN.match(style or "")
            if align and element.tag in ("th", "td"):
                element.set("align", align.group(1))


def decode_references(text: str) -> str | None:
    """``text`` with character references decoded until none is left; None if they nest deeply.

    Markdown keeps references in addresses as they were written, and a browser
    decodes them when it reads the attribute: ``&#106;avascript:`` is
    ``javascript:`` to it.
    """
    for _ in range(_MAX_DECODES):
        decoded = html.unescape(text)
        if decoded == text:
            return text
        text = decoded
    return None


def is_safe_url(url: str) -> bool:
    """True for web, mail and relative addresses; False for any other scheme.

    Judged as a browser reads the address in an attribute: references decoded,
    tabs, newlines, spaces and control characters dropped (before the scheme,
    browsers skip or remove all of them).
    """
    decoded = decode_references(url)
    if decoded is None:
        return False
    cleaned = "".join(ch for ch in decoded if ch > " " and ch != "\x7f")
    return bool(_SAFE_SCHEME.match(cleaned))


def sanitize(fragment: str) -> str:
    """``fragment`` with only README tags, attributes and safe addresses left."""
    return nh3.clean(
        fragment,
        tags=set(TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )


def render_markdown(text: str) -> str:
    """HTML of ``text`` with raw HTML shown as text and unsafe addresses removed."""
    md = markdown.Markdown(extensions=["tables", "fenced_code", "sane_lists"])
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    md.treeprocessors.register(_JudgeUrls(md), "radiops-safe-urls", 0)
    return sanitize(md.convert(text))
