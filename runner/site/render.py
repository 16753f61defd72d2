"""The jinja2 templates of generated pages, with autoescaping on."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Mapping
from importlib.resources import files
from typing import Any

import jinja2

from runner.experiment import RadioSettings
from runner.limits import Limits

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


def radio_fields(radio: RadioSettings) -> Iterator[tuple[str, object]]:
    for key in ("type", "frequency", "rate", "gain", "antenna", "channel"):
        value = getattr(radio, key)
        if value is not None:
            yield key, value


def limits_text(limits: Limits) -> str:
    parts = []
    if limits.cpus is not None:
        parts.append(f"{limits.cpus:g} CPU")
    if limits.memory_bytes is not None:
        parts.append(f"{size(limits.memory_bytes)} memory")
    if limits.pids is not None:
        parts.append(f"{limits.pids} processes")
    return ", ".join(parts) or "node defaults"


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
    env.globals.update(known_statuses=KNOWN_STATUSES, radio_fields=radio_fields, limits=limits_text)
    return env


def render(template: str, context: Mapping[str, Any]) -> str:
    """The HTML of ``template`` with ``context``; every value is escaped unless Markup."""
    return environment().get_template(template).render(context)


@functools.cache
def templates_hash() -> str:
    """A hash of the templates and assets: a change in them changes every cached page."""
    digest = hashlib.sha256()
    for folder in ("templates", "assets"):
        for item in sorted(files("runner.site").joinpath(folder).iterdir(), key=lambda p: p.name):
            if item.is_file():
                digest.update(item.name.encode() + b"\0" + item.read_bytes())
    return digest.hexdigest()
