"""What a run page shows of a ``.sigmf-meta`` file: its global fields and its annotations.

The file was written in a container: it is read bounded (META_MAX_BYTES),
every value is turned into short plain text (the template escapes it), and an
annotation whose numbers are not sample positions or frequencies is left out
and counted, never drawn somewhere odd.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.model.sigmf import META_MAX_BYTES
from runner.model.units import finite_number
from runner.site.downloads import Checked, NotPublished, open_below

MAX_ROWS = 100  # global fields shown; the rest are counted
VALUE_CHARS = 300
KEY_CHARS = 100
MAX_ANNOTATIONS = 500  # drawn on the spectrogram; the rest are counted
LABEL_CHARS = 200
_LARGEST_INDEX = 1 << 62  # a sample position past any file


@dataclass(frozen=True, kw_only=True)
class Annotation:
    """One SigMF annotation, checked: positions in samples, edges in Hz."""

    sample_start: int
    sample_count: int | None
    freq_lower_edge: float | None
    freq_upper_edge: float | None
    label: str


@dataclass(frozen=True, kw_only=True)
class MetaView:
    """The global fields as (name, text) rows, the annotations, and notes on what was left out."""

    rows: tuple[tuple[str, str], ...] = ()
    annotations: tuple[Annotation, ...] = ()
    notes: tuple[str, ...] = ()
    problem: str | None = None  # set: nothing could be read, this says why


def read_meta_file(file: Checked) -> MetaView:
    """The metadata of ``file`` (checked by ``downloads``), read again through no link."""
    try:
        fd = open_below(file.root, file.relative)
    except (OSError, NotPublished) as error:
        return MetaView(problem=f"metadata not read: {error}")
    try:
        data = os.read(fd, META_MAX_BYTES + 1)
    except OSError as error:
        return MetaView(problem=f"metadata not read: {error.strerror}")
    finally:
        os.close(fd)
    if len(data) <= META_MAX_BYTES and hashlib.sha256(data).hexdigest() != file.sha256:
        return MetaView(problem="metadata not read: it changed since it was checked")
    return parse_meta(data)


def parse_meta(data: bytes) -> MetaView:
    """The view of a ``.sigmf-meta`` document's bytes."""
    if len(data) > META_MAX_BYTES:
        return MetaView(problem=f"metadata not read: more than {META_MAX_BYTES} bytes")
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return MetaView(problem="metadata not read: not JSON")
    if not isinstance(document, dict) or not isinstance(document.get("global"), dict):
        return MetaView(problem="metadata not read: no 'global' object")
    fields = list(document["global"].items())
    rows = tuple((_cut(str(key), KEY_CHARS), _text(value)) for key, value in fields[:MAX_ROWS])
    notes = []
    if len(fields) > MAX_ROWS:
        notes.append(f"{len(fields) - MAX_ROWS} more global fields not shown")
    listed = document.get("annotations")
    items = listed if isinstance(listed, list) else []
    annotations = [a for a in map(_annotation, items) if a is not None]
    if len(annotations) < len(items):
        notes.append(
            f"{len(items) - len(annotations)} annotations not drawn: "
            "no whole non-negative core:sample_start, or numbers out of range"
        )
    if len(annotations) > MAX_ANNOTATIONS:
        notes.append(
            f"{len(annotations) - MAX_ANNOTATIONS} annotations past the first "
            f"{MAX_ANNOTATIONS} not drawn"
        )
    return MetaView(rows=rows, annotations=tuple(annotations[:MAX_ANNOTATIONS]), notes=tuple(notes))


def _annotation(item: object) -> Annotation | None:
    if not isinstance(item, Mapping):
        return None
    start = _index(item.get("core:sample_start"))
    count = _index(item.get("core:sample_count"))
    if start is None or ("core:sample_count" in item and count is None):
        return None
    edges = []
    for key in ("core:freq_lower_edge", "core:freq_upper_edge"):
        value = finite_number(item.get(key))
        if key in item and value is None:
            return None
        edges.append(value)
    lower, upper = edges
    if lower is not None and upper is not None and lower > upper:
        lower, upper = upper, lower
    label = item.get("core:label")
    return Annotation(
        sample_start=start,
        sample_count=count,
        freq_lower_edge=lower,
        freq_upper_edge=upper,
        label=_cut(label, LABEL_CHARS) if isinstance(label, str) else "",
    )


def _index(value: object) -> int | None:
    """A sample position or count: a whole non-negative number (capped), else None."""
    number = finite_number(value)
    if number is None or number < 0 or number != int(number):
        return None
    return min(int(value) if isinstance(value, int) else int(number), _LARGEST_INDEX)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return _cut(value, VALUE_CHARS)
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (ValueError, RecursionError):
        text = "(not shown)"
    return _cut(text, VALUE_CHARS)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
