"""Images built from ``images/<dir>`` (runner/engine/registry.py pushes and pulls them).

A build context is identified by a content hash (:func:`context_sha256`), so
an unchanged context is never built twice on an engine: the image is found by
its local tag ``radiops/<dir>:ctx-<12 hex>`` and the full hash in its label.

Build contexts come from pull requests: they are refused when a link leads
out of them, and only what was hashed is sent to the engine.
"""

from __future__ import annotations

import re
import tarfile
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import docker
import docker.errors
import requests.exceptions
from docker.models.images import Image

from runner.engine.build_context import ContextRefused, dockerfile_text, in_chain, scan_context
from runner.engine.engines import ENGINE_CALL_ERRORS
from runner.engine.image_bases import repo_bases, rewrite_from, with_bases
from runner.model.errors import EnvironmentProblem, InvalidInput, UsageError
from runner.model.problems import printable
from runner.model.references import digest_of, digests_of, split_pinned
from runner.model.repo import IMAGES, Repository

LABEL_CONTEXT = "org.radiops.context-sha256"
LABEL_IMAGE = "org.radiops.image"
LOCAL_NAMESPACE = "radiops"  # local tags radiops/<dir>:ctx-<hex>; never pulled
BUILD_TIMEOUT_S = 3600  # a quiet RUN step must not trip the client's read timeout
LOG_TAIL = 12

Progress = Callable[[str], None]

_STEP = re.compile(r"^Step \d+/\d+ : ")


class BuildFailed(InvalidInput):
    """A Dockerfile step failed: the message names the step and ends the log."""


@dataclass(frozen=True, kw_only=True)
class BaseImage:
    """What the Dockerfile's last stage builds FROM, as found on the building engine."""

    ref: str  # as written after FROM (ARG defaults substituted)
    image_id: str | None  # on that engine; None when it is not there
    digest: str | None  # registry digest of the base when the engine knows one


@dataclass(frozen=True, kw_only=True)
class BuiltImage:
    """An image of ``images/<dir>`` present on one engine."""

    image: str  # "images/hello"
    local_ref: str  # "radiops/hello:ctx-0123456789ab"
    image_id: str  # "sha256:..."
    context_sha256: str
    dockerfile_sha256: str
    base_image: BaseImage | None  # None for FROM scratch
    built: bool  # False when an earlier build was reused

    @property
    def name(self) -> str:
        """The image directory's name: ``hello``."""
        return self.image.split("/", 1)[1]


# -- build contexts -------------------------------------------------------------------


def dockerfile_base(text: str) -> str | None:
    """The image the Dockerfile's last stage builds FROM, following stage names.

    ARG defaults declared before the first FROM are substituted; None for
    ``FROM scratch`` or when there is no FROM.
    """
    args: dict[str, str] = {}
    stages: dict[str, str] = {}
    base: str | None = None
    for instruction in _instructions(text):
        word, _, rest = instruction.partition(" ")
        words = rest.split()
        if word.upper() == "ARG" and base is None and words:
            name, _, default = words[0].partition("=")
            args[name] = default.strip("\"'")
        elif word.upper() == "FROM":
            words = [w for w in words if not w.startswith("--")]
            if not words:
                continue
            ref = re.sub(
                r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: args.get(m[1], ""), words[0]
            )
            ref = stages.get(ref.lower(), ref)
            if len(words) >= 3 and words[1].lower() == "as":
                stages[words[2].lower()] = ref
            base = ref
    return None if base is None or base.lower() == "scratch" else base


def _instructions(text: str) -> Iterator[str]:
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        yield pending + stripped
        pending = ""
    if pending.strip():
        yield pending.strip()


# -- build ----------------------------------------------------------------------------


def local_reference(name: str, context_hash: str) -> str:
    """The local tag of the image of ``images/<name>`` with that context hash."""
    return f"{LOCAL_NAMESPACE}/{name}:ctx-{context_hash[:12]}"


def build(
    client: docker.DockerClient,
    repo: Repository,
    image: str,
    *,
    progress: Progress,
    labels: Mapping[str, str] | None = None,
) -> BuiltImage:
    """The image of ``image`` ("images/<dir>") on ``client``'s engine, built if needed.

    An image with this context hash is reused when the engine has it under
    its local tag (a label alone can be forged: any pulled image, or a failed
    build's intermediate step, may carry one). Otherwise the context is built
    with the classic builder, host networking, no base image pull; each log
    line goes to ``progress``. ``labels`` are added to radiops' own.
    """
    return _build(client, repo, image, progress=progress, labels=labels, chain=())


def _build(
    client: docker.DockerClient,
    repo: Repository,
    image: str,
    *,
    progress: Progress,
    labels: Mapping[str, str] | None,
    chain: tuple[str, ...],
) -> BuiltImage:
    context, name = _context(repo, image)
    image = f"{IMAGES}/{name}"  # the label and the lock use one spelling
    chain = in_chain(name, chain)
    dockerfile = dockerfile_text(context)
    bases = {
        base: _build(client, repo, base, progress=progress, labels=labels, chain=chain)
        for base in repo_bases(dockerfile)
    }
    base_hashes = {base: built.context_sha256 for base, built in bases.items()}
    base_ids = {base: built.image_id for base, built in bases.items()}

    def send(original: bytes) -> bytes:
        return rewrite_from(original.decode("utf-8", "replace"), base_ids).encode()

    own_hash, contents = scan_context(context, None)
    context_hash = with_bases(own_hash, base_hashes)
    local_ref = local_reference(name, context_hash)
    found = _reusable(client, local_ref, context_hash, image)
    built = found is None
    if found is None:
        progress(f"{image}: building {local_ref}")
        with tempfile.TemporaryFile() as archive:
            with tarfile.open(fileobj=archive, mode="w", format=tarfile.PAX_FORMAT) as tar:
                own_hash, contents = scan_context(context, tar, send if bases else None)
            archive.seek(0)
            context_hash = with_bases(own_hash, base_hashes)
            local_ref = local_reference(name, context_hash)
            all_labels = {**(labels or {}), LABEL_CONTEXT: context_hash, LABEL_IMAGE: image}
            image_id = _run_build(client, archive, local_ref, all_labels, image, progress)
        found = _reusable(client, local_ref, context_hash, image)
        if found is None or found.id != image_id:
            raise BuildFailed(f"{image}: the engine did not keep the image it built ({image_id})")
    else:
        progress(f"{image}: unchanged, skipped ({local_ref}, {found.id})")
    base_ref = dockerfile_base(dockerfile)
    return BuiltImage(
        image=image,
        local_ref=local_ref,
        image_id=str(found.id),
        context_sha256=context_hash,
        dockerfile_sha256=contents["Dockerfile"],
        base_image=BaseImage(ref=base_ref, image_id=bases[base_ref].image_id, digest=None)
        if base_ref in bases
        else _base_image(client, base_ref),
        built=built,
    )


def _context(repo: Repository, image: str) -> tuple[Path, str]:
    parts = image.rstrip("/").split("/")
    if len(parts) != 2 or parts[0] != IMAGES or parts[1] in ("", ".", ".."):
        raise UsageError(f"{image}: not an image directory of the form images/<dir>")
    context = repo.root / IMAGES / parts[1]
    if not context.is_dir():
        raise UsageError(f"{image}: no such image directory in {repo.root}")
    if not repo.contains(context):
        raise ContextRefused(f"{image} is a link that leads outside the repository")
    dockerfile = context / "Dockerfile"
    if dockerfile.is_symlink() or not dockerfile.is_file():
        raise ContextRefused(f"{image}/Dockerfile is missing or not a regular file")
    return context, parts[1]


def _reusable(
    client: docker.DockerClient, local_ref: str, context_hash: str, image: str
) -> Image | None:
    try:
        found = client.images.get(local_ref)
    except docker.errors.ImageNotFound:
        return None
    except ENGINE_CALL_ERRORS as exc:
        raise EnvironmentProblem(f"{image}: the engine did not answer: {exc}") from None
    labels = found.labels or {}
    if labels.get(LABEL_CONTEXT) == context_hash and labels.get(LABEL_IMAGE) == image:
        return found
    return None


class _BuildLog:
    """The build's output, line by line, to ``progress``; its last lines for a failure."""

    def __init__(self, image: str, progress: Progress) -> None:
        self.image = image
        self.progress = progress
        self.tail: deque[str] = deque(maxlen=LOG_TAIL)
        self.step: str | None = None
        self.pending = ""

    def emit(self, line: str) -> None:
        line = printable(line.rstrip("\r"), lines=True)
        if _STEP.match(line):
            self.step = line
        self.tail.append(line)
        self.progress(line)

    def feed(self, text: str) -> None:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.emit(line)

    def flush(self) -> None:
        if self.pending:
            self.emit(self.pending)

    def failed(self, message: str) -> BuildFailed:
        log = "\n".join(f"  | {line}" for line in self.tail) or "  (no output)"
        step = self.step
        return BuildFailed(
            f"{self.image}: the build failed {f'at {step}' if step else 'before its first step'}\n"
            f"  {printable(message.strip(), lines=True)}\n"
            f"last lines of the build log:\n{log}"
        )


def _run_build(
    client: docker.DockerClient,
    archive: IO[bytes],
    local_ref: str,
    labels: dict[str, str],
    image: str,
    progress: Progress,
) -> str:
    log = _BuildLog(image, progress)
    image_id: str | None = None
    try:
        stream = client.api.build(
            fileobj=archive,
            custom_context=True,
            tag=local_ref,
            labels=labels,
            network_mode="host",
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            timeout=BUILD_TIMEOUT_S,
        )
        for chunk in stream:
            if "stream" in chunk:
                log.feed(str(chunk["stream"]))
            elif "error" in chunk:
                log.flush()
                raise log.failed(str(chunk.get("error")))
            elif "status" in chunk and not chunk.get("progressDetail"):
                log.emit(" ".join(str(chunk[k]) for k in ("id", "status") if chunk.get(k)))
            elif isinstance(chunk.get("aux"), dict) and "ID" in chunk["aux"]:
                image_id = str(chunk["aux"]["ID"])
    except docker.errors.APIError as exc:
        raise log.failed(str(exc.explanation or exc)) from None
    except requests.exceptions.RequestException as exc:
        raise EnvironmentProblem(
            f"{image}: the engine stopped answering the build: {exc}"
        ) from None
    log.flush()
    if image_id is None:
        raise log.failed("the engine reported no image")
    return image_id


def _base_image(client: docker.DockerClient, ref: str | None) -> BaseImage | None:
    if ref is None:
        return None
    try:
        found = client.images.get(ref)
    except ENGINE_CALL_ERRORS:
        return BaseImage(ref=ref, image_id=None, digest=digest_of(ref))
    digests = digests_of(found.attrs, split_pinned(ref)[0])
    return BaseImage(
        ref=ref,
        image_id=found.id,
        digest=digest_of(ref) or (digests[0] if len(digests) == 1 else None),
    )
