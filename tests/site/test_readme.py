"""READMEs from pull requests: Markdown without raw HTML or code-running links.

Every output is read back as a browser reads it (html.parser decodes
character references in attributes) and checked independently of the code
under test: only allowlisted tags and attributes, and every address web,
mail or relative.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from runner.site.readme import ATTRIBUTES, TAGS, is_safe_url, render_markdown, sanitize

SAFE_SCHEMES = {"http", "https", "mailto"}


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _scheme(url: str) -> str | None:
    """The scheme a browser finds in ``url`` (WHATWG: tabs and newlines removed, C0 trimmed)."""
    cleaned = re.sub(r"[\t\n\r]", "", url).strip(
        "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c"
        "\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18"
        "\x19\x1a\x1b\x1c\x1d\x1e\x1f "
    )
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", cleaned)
    return match.group(1).lower() if match else None


def assert_harmless(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every tag and attribute allowlisted, every address web, mail or relative."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    for tag, attrs in reader.tags:
        assert tag in TAGS, (tag, html)
        for name, value in attrs.items():
            assert name in ATTRIBUTES.get(tag, set()) | {"rel"}, (tag, name, html)
            if name in ("href", "src"):
                scheme = _scheme(value or "")
                assert scheme is None or scheme in SAFE_SCHEMES, (value, html)
    return reader.tags


def _addresses(html: str) -> list[str]:
    return [
        str(attrs[name])
        for _, attrs in assert_harmless(html)
        for name in ("href", "src")
        if name in attrs
    ]


def test_raw_html_is_shown_as_text() -> None:
    html = render_markdown(
        "# Title\n\n<script>window.__pwned = 1</script>\n\nx <img src=x onerror=alert(1)>"
    )
    assert "<script" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html
    assert_harmless(html)


def test_markdown_still_renders() -> None:
    html = render_markdown("# Hi\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```\ncode <b>\n```\n")
    assert "<h1>Hi</h1>" in html and "<table>" in html and "code &lt;b&gt;" in html
    assert_harmless(html)


def test_what_readmes_use_survives_the_sanitizer() -> None:
    text = (
        "# T\n\n## S\n\n| l | c | r |\n|:--|:-:|--:|\n| 1 | 2 | 3 |\n\n```python\nx < 1\n```\n\n"
        "3. three\n4. four\n\n- a\n- b\n\n> quoted\n\n---\n\nline  \nbreak **b** *i* `c` "
        '![plot](plots/ber.png "BER") [doc](../other/README.md "Other") '
        "[top](#readme) [web](https://example.org/a?b=1&c=2) <https://example.org> <a@b.org>\n"
    )
    html = render_markdown(text)
    for part in (
        "<h1>T</h1>",
        "<h2>S</h2>",
        '<th align="left">l</th>',
        '<td align="center">2</td>',
        "<pre><code>x &lt; 1\n</code></pre>",
        '<ol start="3">',
        "<ul>",
        "<blockquote>",
        "<hr>",
        "<br>",
        "<strong>b</strong>",
        "<em>i</em>",
        "<code>c</code>",
        '<img alt="plot" src="plots/ber.png" title="BER">',
        'href="https://example.org/a?b=1&amp;c=2"',
    ):
        assert part in html, part
    assert _addresses(html) == [
        "plots/ber.png",
        "../other/README.md",
        "#readme",
        "https://example.org/a?b=1&c=2",
        "https://example.org",
        "mailto:a@b.org",
    ]
    # every link keeps the rel the site gives links written by others
    assert html.count('rel="nofollow noopener noreferrer"') == 5


# Each written as Markdown link, as Markdown image, and (shown as text) as raw HTML.
HOSTILE_ADDRESSES = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "JAVASCRIPT:alert(1)",
    " java\tscript:x",
    "java\tscript:alert(1)",
    "java&#9;script:alert(1)",
    "java&#x09;script:alert(1)",
    "java&#10;script:alert(1)",
    "java&Tab;script:alert(1)",
    "java&NewLine;script:alert(1)",
    "&#1;javascript:alert(1)",
    "&#106;avascript:alert(document.domain)",
    "&#0000106;avascript:alert(1)",
    "&#106avascript:alert(1)",
    "&#x6A;avascript:alert(1)",
    "&#x6a;&#x61;vascript:alert(1)",
    "&#X6A;avascript:alert(1)",
    "&#x6a&#x61vascript:alert(1)",
    "javascript&#58;alert(1)",
    "javascript&#x3a;alert(1)",
    "javascript&colon;alert(1)",
    "javascript&#0058;alert(1)",
    "&#x6A;ava&#x73;cript&colon;alert(1)",
    "&amp;#106;avascript:alert(1)",
    "&amp;amp;#106;avascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "&#100;ata:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "DATA:image/svg+xml,<svg onload=alert(1)>",
    "d&#97;ta:text/html,x",
    "vbscript:x",
    "VbScRiPt&colon;x",
    "file:///etc/passwd",
    "blob:https://example.org/x",
    "jar:http://x!/",
]


@pytest.mark.parametrize("url", HOSTILE_ADDRESSES)
def test_unsafe_addresses_are_dropped(url: str) -> None:
    assert not is_safe_url(url)
    for text in (f"[a]({url})", f"[a](<{url}>)", f"![a]({url})", f"[a][r]\n\n[r]: {url}\n"):
        html = render_markdown(text)
        assert _addresses(html) == [], (text, html)
        assert "href" not in html and "src" not in html, (text, html)


@pytest.mark.parametrize("url", HOSTILE_ADDRESSES)
def test_raw_html_links_stay_text(url: str) -> None:
    for text in (
        f'<a href="{url}">x</a>',
        f"<a href={url}>x</a>",
        f'<img src="{url}">',
        f'<iframe src="{url}"></iframe>',
        f'<form action="{url}"><button>x</button></form>',
    ):
        html = render_markdown(text)
        assert _addresses(html) == [], (text, html)
        assert "&lt;" in html


@pytest.mark.parametrize(
    "fragment",
    [
        '<a href="&#106;avascript:alert(1)">x</a>',
        '<a href="javascript&colon;alert(1)">x</a>',
        '<a href="java&#9;script:alert(1)">x</a>',
        '<a href="&#x6A;avascript:alert(1)">x</a>',
        '<img src="&#100;ata:text/html,x">',
        "<img src=x onerror=alert(1)>",
        "<script>alert(1)</script>",
        "<svg onload=alert(1)><circle/></svg>",
        "<iframe src=https://example.org></iframe>",
        '<a href="https://example.org" onclick="alert(1)" style="x" class="md-x">x</a>',
        "<style>body{display:none}</style>",
        "<math><mi xlink:href=javascript:alert(1)>x</mi></math>",
        '<object data="javascript:alert(1)"></object>',
        '<form action="javascript:alert(1)"><input></form>',
        '<p><a href="https://example.org/ok">ok</a></p>',
    ],
)
def test_the_sanitizer_alone_stops_what_markdown_might_let_through(fragment: str) -> None:
    html = sanitize(fragment)
    assert_harmless(html)
    assert "<script" not in html and "<style" not in html
    assert "onerror" not in html and "onload" not in html and "onclick" not in html


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/x",
        "http://x",
        "mailto:a@b.c",
        "#top",
        "../images/x",
        "a/b.md",
        "./plot.png",
        "/abs/path",
        "page.md#section",
        "?q=1",
        "https://example.org/?a=1&amp;b=2",
    ],
)
def test_safe_addresses_are_kept(url: str) -> None:
    assert is_safe_url(url)
    assert len(_addresses(render_markdown(f"[a]({url})"))) == 1
