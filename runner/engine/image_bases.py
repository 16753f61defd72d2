"""Images built on other images of the repository: ``FROM images/<dir>``.

An experiment image says ``FROM images/sdr-base`` to build on the
repository's SDR base image. radiops builds the base first, on the same
engine, and sends the engine a Dockerfile whose ``FROM`` names the base by
its image ID (``FROM sha256:<id>``): the build uses exactly that image and
never looks the name up in a registry. The dependent image's context hash
covers its bases' hashes, so changing the base changes every image on it.

Build such images with ``radiops images build``: a plain ``docker build``
would look for ``images/sdr-base`` on Docker Hub.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

IMAGES = "images"
_FROM = re.compile(
    r"^(?P<head>[ \t]*FROM[ \t]+(?:--\S+[ \t]+)*)images/(?P<dir>[a-z0-9][a-z0-9._-]*)(?=[ \t]|$)",
    re.IGNORECASE | re.MULTILINE,
)


def repo_bases(dockerfile: str) -> list[str]:
    """The repository images (``images/<dir>``) the Dockerfile builds FROM, in order, once each."""
    found: dict[str, None] = {}
    for match in _FROM.finditer(dockerfile):
        found.setdefault(f"{IMAGES}/{match['dir']}")
    return list(found)


def rewrite_from(dockerfile: str, image_ids: Mapping[str, str]) -> str:
    """``dockerfile`` with each ``FROM images/<dir>`` naming that base's image ID instead."""

    def replace(match: re.Match[str]) -> str:
        return match["head"] + image_ids[f"{IMAGES}/{match['dir']}"]

    return _FROM.sub(replace, dockerfile)


def with_bases(own_sha256: str, bases: Mapping[str, str]) -> str:
    """The context hash of an image: its own files' hash, combined with its bases' hashes."""
    if not bases:
        return own_sha256
    text = own_sha256 + "".join(f"\n{name}={bases[name]}" for name in sorted(bases))
    return hashlib.sha256(text.encode()).hexdigest()
