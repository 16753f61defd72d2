"""Reading run manifests for the site: quick when valid, every problem when not.

Most manifests are valid and were seen before: their bytes' hash is in the
build cache, so they are only parsed (by the quick reader: these bytes passed
the strict one). New ones are read strictly and checked against the schema;
a manifest that fails is read again by ``read_manifest`` (the one loader
``radiops validate`` uses) for its problems with line and column.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.model.manifest import read_manifest
from runner.model.schemas import data_errors, load_schema
from runner.site.cache import BuildCache, content_key

MAX_MANIFEST_BYTES = 16 << 20


@dataclass(frozen=True, kw_only=True)
class ManifestRead:
    """A manifest as the site sees it: its data when valid, else why not."""

    data: dict[str, Any] | None
    sha256: str | None
    problems: Sequence[str]


class _NotStrictJson(ValueError):
    pass


def read_for_site(path: Path, *, display: str, cache: BuildCache) -> ManifestRead:
    """The manifest at ``path``; never raises for a bad file."""
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            return ManifestRead(
                data=None, sha256=None, problems=(f"{display}: larger than 16 MiB",)
            )
        raw = path.read_bytes()
    except OSError as error:
        return ManifestRead(data=None, sha256=None, problems=(f"{display}: {error.strerror}",))
    sha256 = hashlib.sha256(raw).hexdigest()
    key = content_key(sha256, _schema_hash())
    if cache.known_valid(key):
        # these very bytes passed the strict reader and the schema before
        cache.hits["manifests"] += 1
        cache.valid_manifests.add(key)
        return ManifestRead(data=json.loads(raw), sha256=sha256, problems=())
    cache.misses["manifests"] += 1
    try:
        data = json.loads(raw, object_pairs_hook=_unique, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict) and not data_errors(data, "manifest"):
        cache.valid_manifests.add(key)
        return ManifestRead(data=data, sha256=sha256, problems=())
    _, _, problems = read_manifest(path, display=display)
    found = tuple(str(problem) for problem in problems) or (
        f"{display}: not a valid manifest (JSON that a strict reader refuses)",
    )
    return ManifestRead(data=None, sha256=sha256, problems=found)


@functools.cache
def _schema_hash() -> str:
    return content_key(json.dumps(load_schema("manifest"), sort_keys=True))


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _NotStrictJson("duplicate key")
    return result


def _no_constant(name: str) -> Any:
    raise _NotStrictJson(f"{name} is not JSON")
