"""Image references as Docker writes them: ``name[:tag][@sha256:<64 hex>]``. Pure: no engine."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_PINNED = re.compile(r"^(?P<name>[^@\s]+)@(?P<digest>sha256:[0-9a-f]{64})$")


def is_pinned(ref: str) -> bool:
    """True for a registry reference pinned by digest: ``name[:tag]@sha256:<64 hex>``."""
    return _PINNED.match(ref) is not None


def split_pinned(ref: str) -> tuple[str, str | None]:
    """Repository name (without tag) and digest (None when not pinned) of ``ref``."""
    match = _PINNED.match(ref)
    name = ref if match is None else match["name"]
    if ":" in name.rsplit("/", 1)[-1]:  # name:tag@digest: the digest decides
        name = name.rsplit(":", 1)[0]
    return name, None if match is None else match["digest"]


def tag_of(ref: str) -> str:
    """The tag of an unpinned reference (``latest`` when it names none)."""
    last = ref.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"


def digest_of(ref: str) -> str | None:
    """The digest ``ref`` is pinned by, or None."""
    return split_pinned(ref)[1]


def familiar(name: str) -> str:
    """Docker's short form of a repository name: docker.io/library/debian -> debian."""
    for prefix in ("docker.io/", "index.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name.removeprefix("library/")


def digests_of(attrs: Mapping[str, Any], repository: str) -> list[str]:
    """The digests the engine records for the image under ``repository``."""
    found = []
    for pin in attrs.get("RepoDigests") or []:
        name, _, digest = str(pin).partition("@")
        if familiar(name) == familiar(repository):
            found.append(digest)
    return found
