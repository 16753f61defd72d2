"""READMEs from pull requests: Markdown without raw HTML or code-running links."""

from __future__ import annotations

import pytest

from runner.site.readme import is_safe_url, render_markdown


def test_raw_html_is_shown_as_text() -> None:
    html = render_markdown(
        "# Title\n\n<script>window.__pwned = 1</script>\n\nx <img src=x onerror=alert(1)>"
    )
    assert "<script" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html


def test_markdown_still_renders() -> None:
    html = render_markdown("# Hi\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```\ncode <b>\n```\n")
    assert "<h1>Hi</h1>" in html and "<table>" in html and "code &lt;b&gt;" in html


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " java\tscript:x",
        "data:text/html,x",
        "vbscript:x",
        "file:///etc/passwd",
    ],
)
def test_unsafe_addresses_are_dropped(url: str) -> None:
    assert not is_safe_url(url)
    assert "href" not in render_markdown(f"[a]({url})")


@pytest.mark.parametrize(
    "url", ["https://example.org/x", "http://x", "mailto:a@b.c", "#top", "../images/x", "a/b.md"]
)
def test_safe_addresses_are_kept(url: str) -> None:
    assert is_safe_url(url)
