"""The testbed's registry: pushing built images, pulling pinned ones, whether it answers.

Pushing gives a registry digest; any engine then gets exactly that image with
:func:`pull_pinned`, which accepts an image only when the engine lists that
digest for it.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from email.message import Message

import docker
import docker.errors
import requests.exceptions
from docker.models.images import Image

from runner.engine.images import LOCAL_NAMESPACE, BuiltImage, Progress
from runner.model.errors import EnvironmentProblem, InvalidInput, UsageError
from runner.model.problems import printable
from runner.model.references import (
    digests_of,
    familiar,
    is_loopback,
    is_pinned,
    parse_reference,
    split_pinned,
    tag_of,
)
from runner.model.repo import IMAGES
from runner.model.testbed import Registry

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
REGISTRY_TIMEOUT_S = 30.0
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
#: the push stream's "TAG: digest: sha256:<hex> size: N" line (Docker and Podman)
_PUSHED_DIGEST = re.compile(r"\bdigest: (sha256:[0-9a-f]{64})\b")


class RegistryProblem(EnvironmentProblem):
    """A push or pull failed, or an engine's image is not the one asked for."""


class UnpinnedImage(InvalidInput):
    """A registry reference with a mutable tag where a digest is required."""


def require_pinned(ref: str) -> None:
    """Raise UnpinnedImage unless ``ref`` is pinned (``images/<dir>`` pass: see images.lock)."""
    if ref.startswith(f"{IMAGES}/") or is_pinned(ref):
        return
    raise UnpinnedImage(
        f"{ref}: a mutable tag is refused in strict mode: it may name another image "
        "tomorrow, and the run could not be reproduced. Pin it by digest: run "
        "`radiops pin` to rewrite the scenario with name@sha256:<digest>"
    )


def push(
    client: docker.DockerClient, built: BuiltImage, registry: Registry, *, progress: Progress
) -> str:
    """Push ``built`` to ``registry``; the pinned reference ``<registry>/<dir>@sha256:<hex>``."""
    repository = f"{registry.address}/{built.name}"
    tag = f"ctx-{built.context_sha256[:12]}"
    digest: str | None = None
    try:
        client.api.tag(built.image_id, repository, tag)
        for chunk in client.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in chunk:
                raise RegistryProblem(_push_error(repository, tag, str(chunk["error"]), registry))
            aux = chunk.get("aux")
            if isinstance(aux, dict) and isinstance(aux.get("Digest"), str):
                digest = aux["Digest"]
            if "status" in chunk and not chunk.get("progressDetail"):
                progress(printable(" ".join(str(chunk[k]) for k in ("id", "status") if k in chunk)))
                reported = _PUSHED_DIGEST.search(str(chunk["status"]))
                digest = digest or (reported[1] if reported else None)
        pins = digests_of(client.images.get(built.image_id).attrs, repository)
    except docker.errors.APIError as exc:
        message = str(exc.explanation or exc)
        raise RegistryProblem(_push_error(repository, tag, message, registry)) from None
    except requests.exceptions.RequestException as exc:
        raise EnvironmentProblem(
            f"pushing {repository}: the engine stopped answering: {exc}"
        ) from None
    if digest is None and len(pins) == 1:
        digest = pins[0]
    if digest is not None and digest not in pins:
        # Podman lists the digest of the manifest it made, not the one the registry
        # keeps: the registry's word for the tag decides
        pins = [manifest_digest(registry, built.name, tag) or "none from the registry"]
    if digest is None or digest not in pins:
        raise RegistryProblem(
            f"pushed {repository}:{tag}, but the engine reports the digest {digest} "
            f"and knows {pins or 'none'} for it"
        )
    pinned = f"{repository}@{digest}"
    progress(f"{built.image}: pushed {pinned}")
    return pinned


def manifest_digest(registry: Registry, name: str, reference: str) -> str | None:
    """The digest ``registry`` serves the manifest of ``name:reference`` by; None if it does not."""
    insecure = frozenset({registry.address}) if registry.insecure else frozenset()
    try:
        return resolve_digest(f"{registry.address}/{name}:{reference}", insecure=insecure)
    except EnvironmentProblem:
        return None


def _push_error(repository: str, tag: str, message: str, registry: Registry) -> str:
    text = f"pushing {repository}:{tag} failed: {printable(message, lines=True)}"
    if "HTTP response to HTTPS client" in message:
        text += (
            f"\n  the engine does not treat {registry.address} as a plain-HTTP registry: add it "
            'to "insecure-registries" in the engine\'s daemon.json, or serve it over TLS'
        )
    return text


def pull_pinned(client: docker.DockerClient, ref: str, *, progress: Progress) -> str:
    """The image ID of ``ref`` on ``client``'s engine, pulled when missing.

    A pinned reference is pulled by digest, and the image is accepted only
    when the engine lists exactly that digest for it. An unpinned one (allowed
    outside strict mode) behaves like ``docker run``: the engine's copy if it
    has one, else a pull of the tag. Names under ``radiops/`` are refused:
    they are reserved for images built from the repository.
    """
    name, digest = split_pinned(ref)
    if familiar(name).split("/", 1)[0] == LOCAL_NAMESPACE:
        raise UsageError(
            f"{ref}: the name {LOCAL_NAMESPACE}/ is reserved for images built from "
            "this repository; use images/<dir> or a registry reference"
        )
    wanted = f"{name}@{digest}" if digest else ref
    try:
        found = _local(client, wanted)
        if found is None:
            progress(f"pulling {wanted}")
            tag = digest or tag_of(ref)
            for chunk in client.api.pull(name, tag=tag, stream=True, decode=True):
                if "error" in chunk:
                    error = printable(str(chunk["error"]), lines=True)
                    raise RegistryProblem(f"cannot pull {wanted}: {error}")
            found = client.images.get(wanted)
    except docker.errors.APIError as exc:
        message = printable(str(exc.explanation or exc), lines=True)
        raise RegistryProblem(f"cannot pull {wanted}: {message}") from None
    except requests.exceptions.RequestException as exc:
        raise EnvironmentProblem(f"pulling {wanted}: the engine stopped answering: {exc}") from None
    if digest is not None:
        known = digests_of(found.attrs, name)
        if digest not in known:
            raise RegistryProblem(
                f"{ref}: the engine's image {found.id} carries the digests {known or 'none'}, "
                f"not {digest}; refusing to run it"
            )
    else:
        progress(f"{ref}: mutable tag, using image {found.id}")
    return str(found.id)


def _local(client: docker.DockerClient, ref: str) -> Image | None:
    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None


def registry_problem(registry: Registry, *, timeout: float = 10.0) -> str | None:
    """Why ``registry`` cannot be reached, or None when its API answers at all."""
    scheme = "http" if registry.insecure else "https"
    url = f"{scheme}://{registry.address}/v2/"
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 (an http(s) URL)
            return None
    except urllib.error.HTTPError:
        return None  # it answered (e.g. 401: it wants credentials)
    except (OSError, ValueError) as exc:
        return printable(str(getattr(exc, "reason", exc)), lines=True)


def resolve_digest(ref: str, *, insecure: set[str] | frozenset[str] = frozenset()) -> str:
    """The digest ``ref``'s registry serves for its tag now (``sha256:<hex>``).

    Asks the registry's HTTP API (``/v2/<path>/manifests/<tag>``) with the
    manifest and index media types, so a multi-platform image pins to its
    index. Plain HTTP for loopback registries and those in ``insecure``;
    anonymous bearer tokens are fetched when the registry asks for one.
    """
    reference = parse_reference(ref)
    plain = reference.registry in insecure or is_loopback(reference.registry)
    scheme = "http" if plain else "https"
    url = (
        f"{scheme}://{reference.host}/v2/{reference.repository}/manifests/{reference.tag_or_latest}"
    )
    headers = {"Accept": ", ".join(MANIFEST_TYPES)}
    try:
        try:
            digest, body = _fetch(url, headers, method="HEAD")
        except urllib.error.HTTPError as exc:
            if exc.code != 401:
                raise
            token = _token(exc.headers, scheme=scheme)
            headers["Authorization"] = f"Bearer {token}"
            digest, body = _fetch(url, headers, method="HEAD")
        if digest is None:  # not every registry sends the header: hash the manifest
            _, body = _fetch(url, headers, method="GET")
            digest = f"sha256:{hashlib.sha256(body).hexdigest()}"
    except urllib.error.HTTPError as exc:
        reason = "no such image or tag" if exc.code == 404 else f"HTTP {exc.code} {exc.reason}"
        raise EnvironmentProblem(
            f"{ref}: the registry {reference.registry} says: {reason}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise EnvironmentProblem(
            f"{ref}: cannot ask the registry {reference.registry}: {getattr(exc, 'reason', exc)}"
        ) from None
    if not _DIGEST.match(digest):
        raise EnvironmentProblem(f"{ref}: the registry answered an odd digest {printable(digest)}")
    return digest


def _fetch(url: str, headers: Mapping[str, str], *, method: str) -> tuple[str | None, bytes]:
    request = urllib.request.Request(url, headers=dict(headers), method=method)  # noqa: S310
    with urllib.request.urlopen(request, timeout=REGISTRY_TIMEOUT_S) as response:  # noqa: S310
        digest = response.headers.get("Docker-Content-Digest")
        return digest, response.read(4 << 20) if method == "GET" else b""


def _token(headers: Message, *, scheme: str) -> str:
    challenge = headers.get("WWW-Authenticate", "")
    kind, _, params = challenge.partition(" ")
    fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
    realm = fields.pop("realm", "")
    if kind.lower() != "bearer" or not realm.startswith(("https://", f"{scheme}://")):
        raise EnvironmentProblem(
            "the registry wants credentials radiops does not have; pull the image and pin "
            "it by hand (docker inspect --format '{{index .RepoDigests 0}}' IMAGE)"
        )
    url = f"{realm}?{urllib.parse.urlencode(fields)}"
    with urllib.request.urlopen(url, timeout=REGISTRY_TIMEOUT_S) as response:  # noqa: S310
        answer = json.loads(response.read(1 << 20))
    token = answer.get("token") or answer.get("access_token")
    if not isinstance(token, str):
        raise EnvironmentProblem("the registry's token service gave no token")
    return token
