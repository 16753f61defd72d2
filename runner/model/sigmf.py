"""SigMF recordings among a run's outputs: their core metadata, for the manifest and the site.

A ``<name>.sigmf-data`` output with a ``<name>.sigmf-meta`` beside it (same
container) is a recording. Its metadata was written by experiment code, so
it is read as untrusted: bounded in size, every field checked for its type,
and anything odd makes the file an ordinary output with a warning, never a
failed run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

from runner.model.units import finite_number

META_SUFFIX = ".sigmf-meta"
DATA_SUFFIX = ".sigmf-data"
META_MAX_BYTES = 1 << 20
HW_MAX_CHARS = 1000
_DATATYPE = re.compile(r"^([cr])(?:(f64|f32|i32|u32)|(f16|i16|u16)|(i8|u8))(?:_(le|be))?$")
_DATETIME = re.compile(
    r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:"
    r"(?:[0-5][0-9]|60)(?:\.[0-9]{1,9})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)


class NotSigMF(ValueError):
    """The metadata does not describe a recording radiops can account for."""


def sample_bytes(datatype: str) -> int:
    """Bytes per sample of one channel for a SigMF datatype (``cf32_le``: 8)."""
    match = _DATATYPE.match(datatype)
    if match is None or (match[4] is None) == (match[5] is None):
        # the multi-byte types need an endianness, the one-byte ones must not have one
        raise NotSigMF(f"core:datatype {datatype[:40]!r} is not a SigMF datatype such as cf32_le")
    width = 4 if match[2] else 2 if match[3] else 1
    if match[2] == "f64":
        width = 8
    return width * (2 if match[1] == "c" else 1)


def core_fields(meta: bytes, *, data_size: int, meta_path: str) -> dict[str, Any]:
    """The manifest's ``sigmf`` entry for a recording with metadata ``meta``.

    Raises NotSigMF saying what is wrong.
    """
    if len(meta) > META_MAX_BYTES:
        raise NotSigMF(f"the metadata is {len(meta)} bytes; at most {META_MAX_BYTES}")
    try:
        document = json.loads(meta)
    except (ValueError, RecursionError) as exc:
        raise NotSigMF(f"the metadata is not JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("global"), dict):
        raise NotSigMF("the metadata has no 'global' object")
    top = document["global"]
    datatype = top.get("core:datatype")
    if not isinstance(datatype, str):
        raise NotSigMF("core:datatype is missing")
    width = sample_bytes(datatype)
    rate = finite_number(top.get("core:sample_rate"))
    if rate is None or rate <= 0:
        raise NotSigMF("core:sample_rate is missing or not a positive number")
    channels = top.get("core:num_channels", 1)
    if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
        raise NotSigMF("core:num_channels is not a positive whole number")
    entry: dict[str, Any] = {
        "sample_rate": rate,
        "datatype": datatype,
        "num_samples": data_size // (width * channels),
        "meta_path": meta_path,
    }
    captures = document.get("captures")
    first = captures[0] if isinstance(captures, list) and captures else {}
    if isinstance(first, dict):
        frequency = finite_number(first.get("core:frequency"))
        if frequency is not None and frequency >= 0:
            entry["center_frequency"] = frequency
        moment = first.get("core:datetime")
        if isinstance(moment, str) and _DATETIME.match(moment):
            entry["datetime"] = moment
    hw = top.get("core:hw")
    if isinstance(hw, str):
        entry["hw"] = hw[:HW_MAX_CHARS]
    return entry


def annotate(
    outputs: Sequence[MutableMapping[str, Any]], read: Callable[[Mapping[str, Any]], bytes]
) -> list[str]:
    """Fill in ``sigmf`` of every recording among ``outputs``; warnings for the odd ones.

    ``read(output)`` gives an output's bytes (at most META_MAX_BYTES + 1 of them).
    """
    warnings: list[str] = []
    by_path = {(o["role"], o["index"], o.get("origin", "output"), o["path"]): o for o in outputs}
    for (role, index, origin, path), output in by_path.items():
        if not path.endswith(DATA_SUFFIX):
            continue
        meta_path = path[: -len(DATA_SUFFIX)] + META_SUFFIX
        meta = by_path.get((role, index, origin, meta_path))
        if meta is None:
            warnings.append(f"{role}#{index}: {path}: no {meta_path} beside it; not a recording")
            continue
        try:
            output["sigmf"] = core_fields(read(meta), data_size=output["size"], meta_path=meta_path)
        except (NotSigMF, OSError) as exc:
            warnings.append(f"{role}#{index}: {meta_path}: not read as SigMF: {exc}")
    return warnings
