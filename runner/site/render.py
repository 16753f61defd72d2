"""The jinja2 templates of generated pages, with autoescaping on."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2

KNOWN_STATUSES = ("succeeded", "failed", "timeout", "cancelled", "error", "broken")


def size(value: object) -> str:
    """Bytes for people: 1.5 MiB."""
    if not isinstance(value, int | float):
        return "—"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TiB"


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("runner.site", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["size"] = size
    env.globals.update(known_statuses=KNOWN_STATUSES)
    return env


def render(template: str, context: Mapping[str, Any]) -> str:
    """The HTML of ``template`` with ``context``; every value is escaped unless Markup."""
    return environment().get_template(template).render(context)


@functools.cache
def templates_hash() -> str:
    """A hash of the templates, assets and this module: a change changes every cached page."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for folder in ("templates", "assets"):
        for item in sorted(files("runner.site").joinpath(folder).iterdir(), key=lambda p: p.name):
            if item.is_file():
                digest.update(item.name.encode() + b"\0" + item.read_bytes())
    return digest.hexdigest()
