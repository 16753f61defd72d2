"""A :class:`RunDiff` written out: as text for people (:func:`render_text`) or as the
stable JSON form (:func:`to_json`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.model.problems import printable
from runner.model.run_diff_records import (
    FORMAT,
    SECTIONS,
    Item,
    RunDiff,
    Scalar,
)

TEXT_MAX_ITEMS = 40  # per section in the text; --json lists every one
KEY_WIDTH = 36
VALUE_WIDTH = 64


def to_json(diff: RunDiff) -> dict[str, Any]:
    """The stable JSON form (documented in site/diff.md)."""
    return {
        "format": FORMAT,
        "a": dict(diff.a),
        "b": dict(diff.b),
        "same": diff.same,
        "sections": [
            {
                "section": section.name,
                "same": section.same,
                "items": [
                    {
                        "key": item.key,
                        "a": item.a,
                        "b": item.b,
                        "change": item.change,
                        "detail": item.detail,
                    }
                    for item in section.items
                ],
                "notes": list(section.notes),
            }
            for section in diff.sections
        ],
    }


def render_text(diff: RunDiff) -> str:
    """For people: one block per section, aligned; a section with nothing different says so
    in one line. Everything that came from a manifest is made printable."""
    lines = [
        _who_line("A", diff.a),
        _who_line("B", diff.b),
        "",
    ]
    shown = [item for section in diff.sections for item in section.items[:TEXT_MAX_ITEMS]]
    width = min(KEY_WIDTH, max((len(printable(item.key)) for item in shown), default=0))
    section_width = max(len(name) for name in SECTIONS)
    for section in diff.sections:
        head = f"{section.name:<{section_width}}  "
        indent = " " * len(head)
        if section.same and not section.notes:
            lines.append(f"{head}same")
            continue
        rows = [_item_line(item, width) for item in section.items[:TEXT_MAX_ITEMS]]
        if section.same:
            rows.append("same")
        left = len(section.items) - TEXT_MAX_ITEMS
        if left > 0:
            rows.append(f"... and {left} more (radiops diff --json lists them all)")
        rows += [f"note: {printable(note)}" for note in section.notes]
        lines += [(head if n == 0 else indent) + row for n, row in enumerate(rows)]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _who_line(letter: str, who: Mapping[str, Any]) -> str:
    commit = str(who["commit"])[:12] if who["commit"] else "no commit"
    finished = str(who["finished"] or "")[:16].replace("T", " ")
    return printable(f"{letter}  {who['run']}  ({who['status']}, commit {commit}, {finished})")


def _item_line(item: Item, width: int) -> str:
    key = printable(item.key)
    key = key if len(key) <= width else key[: width - 3] + "..."
    if item.key.startswith("file ") and item.a is None and item.b is None:
        values = item.change
    else:
        values = f"{_shown(item.a)} -> {_shown(item.b)}"
    detail = f"  ({printable(item.detail)})" if item.detail else ""
    return f"{key:<{width}}  {values}{detail}"


def _shown(value: Scalar) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = printable(str(value))
    if len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text):
        return text[:12]  # a commit or a sha256: its first 12 digits, as git shows them
    if text.startswith("sha256:") and len(text) == 71:
        return text[:19]
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 3] + "..."
