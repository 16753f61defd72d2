"""A build context's content hash (:func:`context_sha256`) and the archive sent to the
engine: only what was hashed, refused when a link leads out of the context."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from docker.utils.build import PatternMatcher

from runner.engine.image_bases import repo_bases, with_bases
from runner.model.errors import InvalidInput, UsageError
from runner.model.repo import IMAGES

_FORMAT = b"radiops-context-v1\n"  # change when the hashed fields change
_CHUNK = 1 << 20


class ContextRefused(InvalidInput):
    """A build context holds something that must not be sent to an engine."""


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
    own = scan_context(context, None)[0]
    chain = in_chain(context.name, _chain)
    bases = {
        base: context_sha256(context.parent / base.split("/", 1)[1], _chain=chain)
        for base in repo_bases(dockerfile_text(context))
    }
    return with_bases(own, bases)


def in_chain(name: str, chain: tuple[str, ...]) -> tuple[str, ...]:
    image = f"{IMAGES}/{name}"
    if image in chain:
        raise ContextRefused(
            f"{' -> '.join((*chain, image))}: images build FROM each other in a circle"
        )
    return (*chain, image)


def dockerfile_text(context: Path) -> str:
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


def scan_context(
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
