"""The site's build cache: files named by the hash of what they were made from.

It lives outside docs_dir (default ``.cache/radiops-site``). A build marks
every entry it uses; ``prune`` then deletes the others, so the cache holds
what the current site needs and no more.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from pathlib import Path

KINDS = ("plots", "pages", "scenarios", "compare")
_VALID_MANIFESTS = "valid-manifests.json"


def content_key(*parts: str | bytes) -> str:
    """sha256 over ``parts``, each length-prefixed so that no two lists collide."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        digest.update(f"{len(data)}:".encode())
        digest.update(data)
    return digest.hexdigest()


class BuildCache:
    """Content-addressed files under ``root``, by kind (plots, pages, scenarios, compare data)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.used: set[Path] = set()
        self.written = 0  # entries made by this build (a cache hit makes none)
        # files read through the cache, by kind: found there (hits) or read again (misses)
        self.hits: Counter[str] = Counter()
        self.misses: Counter[str] = Counter()
        self._valid_before = self._load_valid()
        self.valid_manifests: set[str] = set()

    def path(self, kind: str, key: str, suffix: str) -> Path:
        """Where the entry of ``kind`` for ``key`` lives; marks it used by this build."""
        if kind not in KINDS:
            raise ValueError(f"unknown cache kind {kind!r}")
        path = self.root / kind / key[:2] / f"{key}{suffix}"
        self.used.add(path)
        return path

    def write(self, path: Path, data: bytes) -> None:
        """Write an entry atomically: a concurrent build sees all of it or nothing."""
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            Path(temporary).replace(path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self.written += 1

    def known_valid(self, manifest_sha256: str) -> bool:
        """True when a manifest with these bytes passed the schema in an earlier build."""
        return manifest_sha256 in self._valid_before

    def prune(self) -> int:
        """Delete the entries this build did not use; keep the valid-manifest list current."""
        removed = 0
        for kind in KINDS:
            folder = self.root / kind
            if not folder.is_dir():
                continue
            for path in folder.glob("*/*"):
                if path not in self.used and path.is_file():
                    path.unlink(missing_ok=True)
                    removed += 1
        self.root.mkdir(parents=True, exist_ok=True)
        self.write(
            self.root / _VALID_MANIFESTS,
            json.dumps(sorted(self.valid_manifests)).encode("utf-8"),
        )
        return removed

    def _load_valid(self) -> set[str]:
        try:
            data = json.loads((self.root / _VALID_MANIFESTS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return set()  # a cache: unreadable means empty
        return {item for item in data if isinstance(item, str)} if isinstance(data, list) else set()
