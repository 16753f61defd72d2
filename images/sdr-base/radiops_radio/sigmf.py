"""SigMF 1.0 recordings of complex baseband: ``<base>.sigmf-meta`` + ``<base>.sigmf-data``.

Samples are stored as ``cf32_le`` (complex64, little-endian), one channel. The
metadata holds the SigMF core fields a reader needs (datatype, sample rate,
centre frequency, start time, hardware, the data's SHA-512) and the radiops run
id under the ``radiops`` extension namespace, so a capture found anywhere can be
traced to its run. radiops recognises these files among a run's outputs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

SIGMF_VERSION = "1.0.0"
DATATYPE = "cf32_le"
META_SUFFIX = ".sigmf-meta"
DATA_SUFFIX = ".sigmf-data"
RECORDER = "radiops"
EXTENSION = {"name": "radiops", "version": "1.0.0", "optional": True}

_SAMPLE = np.dtype("<c8")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
_SUFFIXES = (META_SUFFIX, DATA_SUFFIX, ".sigmf")
_SLICE = 1 << 20  # samples written at a time


class SigMFError(ValueError):
    """A recording cannot be written or read as SigMF cf32_le."""


def write_recording(
    base_path: str | os.PathLike[str],
    samples: np.ndarray,
    *,
    sample_rate: float,
    center_frequency: float,
    datetime: dt.datetime | str,
    hw: str,
    run_id: str,
    description: str = "",
) -> tuple[Path, Path]:
    """Write ``samples`` as a SigMF recording; the paths of its meta and data files.

    ``base_path`` is the recording's name without suffix (a ``.sigmf-meta`` or
    ``.sigmf-data`` suffix is dropped). ``datetime`` is the time of the first
    sample: an aware datetime, or ISO 8601 UTC text ending in ``Z``. The data file
    is written first and the metadata last, each atomically: a metadata file means
    a complete recording.
    """
    base = _base(Path(base_path))
    data = np.asarray(samples)
    if data.ndim != 1 or not np.issubdtype(data.dtype, np.number):
        raise SigMFError(
            f"samples must be a one-dimensional array of numbers, not {data.dtype}{data.shape}"
        )
    if not (sample_rate > 0 and np.isfinite(sample_rate)):
        raise SigMFError(f"sample_rate must be a positive number, not {sample_rate!r}")
    if not np.isfinite(center_frequency):
        raise SigMFError(f"center_frequency must be a finite number, not {center_frequency!r}")
    meta_path = base.with_name(base.name + META_SUFFIX)
    data_path = base.with_name(base.name + DATA_SUFFIX)
    base.parent.mkdir(parents=True, exist_ok=True)
    digest = _write_samples(data_path, data)
    meta: dict[str, Any] = {
        "global": {
            "core:datatype": DATATYPE,
            "core:sample_rate": float(sample_rate),
            "core:version": SIGMF_VERSION,
            "core:num_channels": 1,
            "core:sha512": digest,
            "core:hw": hw,
            "core:recorder": RECORDER,
            "core:extensions": [EXTENSION],
            "radiops:run_id": run_id,
        },
        "captures": [
            {
                "core:sample_start": 0,
                "core:frequency": float(center_frequency),
                "core:datetime": _utc_text(datetime),
            }
        ],
        "annotations": [],
    }
    if description:
        meta["global"]["core:description"] = description
    with _atomic(meta_path) as stream:
        stream.write((json.dumps(meta, indent=2) + "\n").encode())
    return meta_path, data_path


def read_recording(meta_path: str | os.PathLike[str]) -> tuple[dict[str, Any], np.ndarray]:
    """The metadata and samples (complex64) of the recording ``meta_path`` names.

    Checks the datatype (``cf32_le`` only), the data's length and, when recorded,
    its SHA-512.
    """
    base = _base(Path(meta_path))
    meta_file, data_file = (
        base.with_name(base.name + META_SUFFIX),
        base.with_name(base.name + DATA_SUFFIX),
    )
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SigMFError(f"{meta_file}: cannot read the metadata: {exc}") from None
    global_ = meta.get("global") if isinstance(meta, dict) else None
    if not isinstance(global_, dict) or not isinstance(meta.get("captures"), list):
        raise SigMFError(f"{meta_file}: not SigMF metadata (no global object or captures list)")
    datatype = global_.get("core:datatype")
    if datatype != DATATYPE:
        raise SigMFError(f"{meta_file}: core:datatype is {datatype!r}; only {DATATYPE} is read")
    try:
        payload = data_file.read_bytes()
    except OSError as exc:
        raise SigMFError(f"{data_file}: cannot read the samples: {exc}") from None
    if len(payload) % _SAMPLE.itemsize:
        raise SigMFError(
            f"{data_file}: {len(payload)} bytes is not a whole number of {DATATYPE} samples"
        )
    expected = global_.get("core:sha512")
    if expected is not None and hashlib.sha512(payload).hexdigest() != expected:
        raise SigMFError(f"{data_file}: the samples do not match core:sha512 in {meta_file.name}")
    return meta, np.frombuffer(payload, dtype=_SAMPLE).astype(np.complex64)


def _base(path: Path) -> Path:
    for suffix in _SUFFIXES:
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return path.with_name(path.name[: -len(suffix)])
    return path


def _utc_text(moment: dt.datetime | str) -> str:
    if isinstance(moment, str):
        if not _DATETIME.match(moment):
            raise SigMFError(
                f"datetime {moment!r} must be ISO 8601 UTC ending in Z (2026-01-31T12:00:00Z)"
            )
        return moment
    if moment.tzinfo is None:
        raise SigMFError("datetime must be timezone-aware (SigMF times are UTC)")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _write_samples(path: Path, samples: np.ndarray) -> str:
    """Write ``samples`` as cf32_le in slices (no second copy of a large capture); the SHA-512."""
    digest = hashlib.sha512()
    with _atomic(path) as stream:
        for start in range(0, len(samples), _SLICE):
            chunk = np.ascontiguousarray(samples[start : start + _SLICE], dtype=_SAMPLE).tobytes()
            digest.update(chunk)
            stream.write(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _atomic(path: Path) -> Iterator[IO[bytes]]:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(handle, 0o644)  # mkstemp's 0600 would hide the recording from other users
        with os.fdopen(handle, "wb") as stream:
            yield stream
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
