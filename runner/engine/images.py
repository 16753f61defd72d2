"""Images built from ``images/<dir>`` (runner/engine/registry.py pushes and pulls them).

A build context is identified by a content hash (:func:`context_sha256`), so
an unchanged context is never built twice on an engine: the image is found by
its local tag ``radiops/<dir>:ctx-<12 hex>`` and the full hash in its label.

Build contexts come from pull requests: they are refused when a link leads
out of them, and only what was hashed is sent to the engine.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
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
from docker.utils.build import PatternMatcher

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

_FORMAT = b"radiops-context-v1\n"  # change when the hashed fields change
_CHUNK = 1 << 20
_STEP = re.compile(r"^Step \d+/\d+ : ")


class ContextRefused(InvalidInput):
    """A build context holds something that must not be sent to an engine."""


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


def context_sha256(context: Path, *, _chain: tuple[str, ...] = ()) -> str:
    """The content hash of the build context ``context`` (``images/<dir>``).

    Covers every regular file and symbolic link the engine would receive
    (``.dockerignore`` applied with Docker's rules; Dockerfile and
    .dockerignore always count): per entry, its POSIX path relative to the
    context, its kind (file, executable file, link) and the sha256 of its
    content (a link: its target text), in sorted path order. Times, owners
    and empty directories do not count, so every checkout of one commit gives
    the same hash. An image built ``FROM images/<other>`` of the repository
    (runner/engine/image_bases.py) also covers the other's hash. Raises
    ContextRefused for a link out of the context or a special file, and for
    images that build on each other in a circle.
    """
    own = _scan(context, None)[0]
    chain = _in_chain(context.name, _chain)
    bases = {
        base: context_sha256(context.parent / base.split("/", 1)[1], _chain=chain)
        for base in repo_bases(_dockerfile_text(context))
    }
    return with_bases(own, bases)


def _in_chain(name: str, chain: tuple[str, ...]) -> tuple[str, ...]:
    image = f"{IMAGES}/{name}"
    if image in chain:
        raise ContextRefused(
            f"{' -> '.join((*chain, image))}: images build FROM each other in a circle"
        )
    return (*chain, image)


def _dockerfile_text(context: Path) -> str:
    dockerfile = context / "Dockerfile"
    if dockerfile.is_symlink() or not dockerfile.is_file():
        raise ContextRefused(f"{context}: the Dockerfile is missing or not a regular file")
    return dockerfile.read_text(encoding="utf-8", errors="replace")


class _HashingReader:
    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.hash.update(data)
        return data


def _scan(
    context: Path,
    archive: tarfile.TarFile | None,
    dockerfile: Callable[[bytes], bytes] | None = None,
) -> tuple[str, dict[str, str]]:
    """The context's hash and each entry's content hash; adds the entries to ``archive``.

    Hashing while packing means the label names exactly what was sent.
    ``dockerfile`` rewrites the Dockerfile sent (its hash stays the file's own).
    """
    if not context.is_dir():
        raise UsageError(f"{context}: no such build context directory")
    total = hashlib.sha256(_FORMAT)
    contents: dict[str, str] = {}
    for rel in sorted(_listing(context), key=os.fsencode):
        try:
            added = _add(context, rel, archive, dockerfile if rel == "Dockerfile" else None)
        except OSError as exc:
            raise ContextRefused(f"{context}: cannot read {rel}: {exc.strerror or exc}") from None
        if added is None:
            continue
        kind, digest = added
        contents[rel] = digest.hex()
        total.update(os.fsencode(rel) + b"\0" + kind.encode() + b"\0" + digest)
    return total.hexdigest(), contents


def _add(
    context: Path,
    rel: str,
    archive: tarfile.TarFile | None,
    rewrite: Callable[[bytes], bytes] | None = None,
) -> tuple[str, bytes] | None:
    """The kind and content sha256 of one entry (None for a directory); packs it.

    ``rewrite`` changes the bytes packed (not those hashed): for the Dockerfile.
    """
    full = context / rel
    mode = full.lstat().st_mode
    if stat.S_ISDIR(mode):
        return None
    if stat.S_ISLNK(mode):
        target = os.readlink(full)  # noqa: PTH115 (the text as stored, not a Path)
        _check_link(context, rel, target)
        if archive is not None:
            info = _tarinfo(rel, 0o777)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
        return "link", hashlib.sha256(os.fsencode(target)).digest()
    if not stat.S_ISREG(mode):
        raise ContextRefused(
            f"{context}: {rel} is not a regular file, directory or link (a device, "
            "socket or pipe); remove it from the build context"
        )
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC  # no swap for a link meanwhile
    with os.fdopen(os.open(full, flags), "rb") as raw:
        status = os.fstat(raw.fileno())
        executable = bool(status.st_mode & stat.S_IXUSR)  # what git keeps
        reader = _HashingReader(raw)
        if rewrite is not None:
            original = reader.read()
            if archive is not None:
                packed = rewrite(original)
                info = _tarinfo(rel, 0o755 if executable else 0o644)
                info.size = len(packed)
                archive.addfile(info, io.BytesIO(packed))
        elif archive is not None:
            info = _tarinfo(rel, 0o755 if executable else 0o644)
            info.size = status.st_size
            archive.addfile(info, reader)
        else:
            while reader.read(_CHUNK):
                pass
    return ("exec" if executable else "file"), reader.hash.digest()


def _listing(context: Path) -> Iterator[str]:
    patterns: list[str] = []
    ignore = context / ".dockerignore"
    if ignore.is_file() and not ignore.is_symlink():
        lines = ignore.read_text(encoding="utf-8", errors="replace").splitlines()
        patterns = [line.strip() for line in lines if line.strip() and line[0] != "#"]
    # the engine always receives the Dockerfile and .dockerignore (the matcher adds the latter)
    return PatternMatcher([*patterns, "!Dockerfile"]).walk(str(context))


def _check_link(context: Path, rel: str, target: str) -> None:
    inside = context.resolve()
    if target.startswith("/") or not (context / rel).resolve().is_relative_to(inside):
        raise ContextRefused(
            f"{context}: {rel} is a link to {target}, outside the build context; "
            "links may only point inside images/<dir>/"
        )


def _tarinfo(name: str, mode: int) -> tarfile.TarInfo:
    # fixed owner and time: the files in the image depend on the hashed content only
    info = tarfile.TarInfo(name)
    info.mode, info.mtime, info.uid, info.gid, info.uname, info.gname = mode, 0, 0, 0, "", ""
    return info


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
    chain = _in_chain(name, chain)
    dockerfile = _dockerfile_text(context)
    bases = {
        base: _build(client, repo, base, progress=progress, labels=labels, chain=chain)
        for base in repo_bases(dockerfile)
    }
    base_hashes = {base: built.context_sha256 for base, built in bases.items()}
    base_ids = {base: built.image_id for base, built in bases.items()}

    def send(original: bytes) -> bytes:
        return rewrite_from(original.decode("utf-8", "replace"), base_ids).encode()

    own_hash, contents = _scan(context, None)
    context_hash = with_bases(own_hash, base_hashes)
    local_ref = local_reference(name, context_hash)
    found = _reusable(client, local_ref, context_hash, image)
    built = found is None
    if found is None:
        progress(f"{image}: building {local_ref}")
        with tempfile.TemporaryFile() as archive:
            with tarfile.open(fileobj=archive, mode="w", format=tarfile.PAX_FORMAT) as tar:
                own_hash, contents = _scan(context, tar, send if bases else None)
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


def _run_build(
    client: docker.DockerClient,
    archive: IO[bytes],
    local_ref: str,
    labels: dict[str, str],
    image: str,
    progress: Progress,
) -> str:
    tail: deque[str] = deque(maxlen=LOG_TAIL)
    step: str | None = None
    image_id: str | None = None
    pending = ""

    def emit(line: str) -> None:
        nonlocal step
        line = printable(line.rstrip("\r"), lines=True)
        if _STEP.match(line):
            step = line
        tail.append(line)
        progress(line)

    def failed(message: str) -> BuildFailed:
        log = "\n".join(f"  | {line}" for line in tail) or "  (no output)"
        return BuildFailed(
            f"{image}: the build failed {f'at {step}' if step else 'before its first step'}\n"
            f"  {printable(message.strip(), lines=True)}\n"
            f"last lines of the build log:\n{log}"
        )

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
                pending += str(chunk["stream"])
                *lines, pending = pending.split("\n")
                for line in lines:
                    emit(line)
            elif "error" in chunk:
                if pending:
                    emit(pending)
                raise failed(str(chunk.get("error")))
            elif "status" in chunk and not chunk.get("progressDetail"):
                emit(" ".join(str(chunk[k]) for k in ("id", "status") if chunk.get(k)))
            elif isinstance(chunk.get("aux"), dict) and "ID" in chunk["aux"]:
                image_id = str(chunk["aux"]["ID"])
    except docker.errors.APIError as exc:
        raise failed(str(exc.explanation or exc)) from None
    except requests.exceptions.RequestException as exc:
        raise EnvironmentProblem(
            f"{image}: the engine stopped answering the build: {exc}"
        ) from None
    if pending:
        emit(pending)
    if image_id is None:
        raise failed("the engine reported no image")
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
