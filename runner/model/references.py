"""Image references as Docker writes them: ``name[:tag][@sha256:<64 hex>]``. Pure: no engine."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_PINNED = re.compile(r"^(?P<name>[^@\s]+)@(?P<digest>sha256:[0-9a-f]{64})$")
DOCKER_HUB = "docker.io"


@dataclass(frozen=True, kw_only=True)
class ImageReference:
    """A reference split the way Docker splits it: ``[registry/]repository[:tag][@digest]``."""

    name: str  # as written, without tag or digest: "localhost:5000/x", "debian"
    registry: str  # "localhost:5000", "docker.io"
    repository: str  # the path on the registry: "x", "library/debian"
    tag: str | None  # None when none is written
    digest: str | None  # "sha256:<64 hex>" when pinned

    @property
    def tag_or_latest(self) -> str:
        """The tag a pull of this reference asks for: Docker's default is ``latest``."""
        return self.tag or "latest"

    @property
    def host(self) -> str:
        """Where the registry's HTTP API answers (Docker Hub's differs from its name)."""
        return "registry-1.docker.io" if self.registry == DOCKER_HUB else self.registry


def parse_reference(ref: str) -> ImageReference:
    """Split ``ref``; a digest counts only in its full form, ``@sha256:<64 hex>``."""
    match = _PINNED.match(ref)
    name, digest = (ref, None) if match is None else (match["name"], match["digest"])
    tag = None
    if ":" in name.rsplit("/", 1)[-1]:  # name:tag@digest: the digest decides
        name, tag = name.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, name if "/" in name else f"library/{name}"
    return ImageReference(
        name=name, registry=registry, repository=repository, tag=tag, digest=digest
    )


def is_pinned(ref: str) -> bool:
    """True for a registry reference pinned by digest: ``name[:tag]@sha256:<64 hex>``."""
    return _PINNED.match(ref) is not None


def split_pinned(ref: str) -> tuple[str, str | None]:
    """Repository name (without tag) and digest (None when not pinned) of ``ref``."""
    parsed = parse_reference(ref)
    return parsed.name, parsed.digest


def tag_of(ref: str) -> str:
    """The tag of ``ref`` (``latest`` when it names none)."""
    return parse_reference(ref).tag_or_latest


def digest_of(ref: str) -> str | None:
    """The digest ``ref`` is pinned by, or None."""
    return parse_reference(ref).digest


def is_loopback(host: str) -> bool:
    """True when ``host`` (a name or address, ``[::1]`` or ``host:port``) is this machine.

    The one rule for "plain HTTP is safe here": ``localhost`` and any loopback address
    (127.0.0.0/8, ::1).
    """
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
