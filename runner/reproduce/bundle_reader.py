"""Reading a bundle (``radiops bundle``) safely: it is untrusted input, from anyone.

An archive is unpacked member by member, regular files and directories only,
every name checked, sizes and counts bounded, nothing written through a link
(:func:`runner.model.files.open_folder`). ``radiops reproduce --bundle`` unpacks
all of it; ``radiops diff`` only the run, the store and the experiment's source
and of those files no more than it reads (``keep``), with the same checks on every
member, kept or not.
"""

from __future__ import annotations

import json
import lzma
import os
import posixpath
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from runner.model.errors import InvalidInput
from runner.model.files import LinkInTheWay, create_file, open_folder

FORMAT = 1
INDEX = "radiops-bundle.json"
INDEX_MAX_BYTES = 16 << 20
MAX_MEMBERS = 200_000
MAX_BYTES = 64 << 30
MAX_EXPANSION = 100  # bytes unpacked per byte of (compressed) bundle, at most


#: a member's clean name -> how many of its bytes to write (None: not written)
Keep = Callable[[str], "int | None"]


class BundleRefused(InvalidInput):
    """The archive is not a bundle radiops can unpack safely."""


def unpack(bundle: Path, dest: Path, *, keep: Keep | None = None) -> dict[str, Any]:
    """Unpack ``bundle`` into ``dest`` safely; its index. BundleRefused for anything odd.

    ``keep``: of each file (by its clean name), how many bytes are written, at most
    (None: it is not written); without it, every member whole. Every member is
    checked and counted all the same, so a bundle is refused for the same reasons
    whatever is kept. The index is always kept whole.
    """
    try:
        archive = tarfile.open(bundle, "r:*")  # noqa: SIM115 - closed below
        # a compressed bundle may expand, but not without bound (a bomb fills the disk)
        budget = min(MAX_BYTES, max(bundle.stat().st_size, 1 << 20) * MAX_EXPANSION)
    except tarfile.TarError:
        raise BundleRefused(
            f"{bundle}: not a radiops bundle (not a tar archive, plain or compressed); give a "
            "file written by radiops bundle"
        ) from None
    except OSError as exc:
        raise BundleRefused(f"{bundle}: cannot be read ({exc.strerror or exc})") from None
    dest.mkdir(parents=True, exist_ok=True)
    with archive:
        try:
            _unpack_members(archive, bundle, dest, budget, keep)
        except (OSError, EOFError, tarfile.TarError, zlib.error, lzma.LZMAError) as exc:
            raise BundleRefused(
                f"{bundle}: cannot be read to its end ({exc}): the file is damaged or "
                "incomplete; copy it again"
            ) from None
    return _index(bundle, dest)


def _unpack_members(
    archive: tarfile.TarFile,
    bundle: Path,
    dest: Path,
    budget: int,
    keep: Keep | None,
) -> None:
    kinds: dict[str, bool] = {}  # name unpacked -> is a folder
    for count, member in enumerate(archive, start=1):
        if count > MAX_MEMBERS:
            raise BundleRefused(f"{bundle}: more than {MAX_MEMBERS} members")
        name = _safe_name(member.name, bundle)
        _check_kind(member, bundle)
        _claim(name, member.isdir(), kinds, bundle)
        kept = member.size if keep is None or name == INDEX else keep(name)
        if member.isdir():
            if keep is None:  # a partial unpack makes only the folders of its files
                os.close(_folder(dest, name, bundle))
            continue
        budget -= member.size
        if budget < 0:
            raise BundleRefused(
                f"{bundle}: its members hold more bytes than a bundle of its size may "
                f"(at most {MAX_EXPANSION} times its size, {MAX_BYTES} bytes in all)"
            )
        if kept is not None:
            _write_member(archive, member, dest, name, bundle, min(kept, member.size))


def _index(bundle: Path, dest: Path) -> dict[str, Any]:
    try:
        fd = os.open(dest / INDEX, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(INDEX_MAX_BYTES + 1)
        if len(data) > INDEX_MAX_BYTES:
            raise ValueError(f"over {INDEX_MAX_BYTES} bytes")
        index = json.loads(data.decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise BundleRefused(
            f"{bundle}: no readable {INDEX} ({exc}): not a bundle written by radiops bundle"
        ) from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise BundleRefused(f"{bundle}: {INDEX} is not a format {FORMAT} bundle index")
    return index


def _check_kind(member: tarfile.TarInfo, bundle: Path) -> None:
    if member.isdir():
        return
    if member.issparse() or member.type == tarfile.GNUTYPE_SPARSE or _pax_sparse(member):
        # a few bytes of archive that stand for gigabytes of holes
        raise BundleRefused(f"{bundle}: {member.name!r} is a sparse file; bundles hold none")
    if not member.isfile():
        raise BundleRefused(
            f"{bundle}: {member.name!r} is a link or special file; radiops bundle writes "
            "none: refused (ask for a bundle made by radiops bundle)"
        )


def _pax_sparse(member: tarfile.TarInfo) -> bool:
    return any(key.startswith("GNU.sparse.") for key in member.pax_headers)


def _claim(name: str, folder: bool, kinds: dict[str, bool], bundle: Path) -> None:
    """Record ``name`` as unpacked; BundleRefused when a name before it clashes."""
    parents = [str(p) for p in PurePosixPath(name).parents][:-1]
    clash = next((p for p in parents if kinds.get(p) is False), None)
    if clash is not None:
        raise BundleRefused(f"{bundle}: {name!r} is inside {clash!r}, which is a file")
    if name in kinds and not (folder and kinds[name]):
        what = "appears twice" if kinds[name] == folder else "is both a file and a folder"
        raise BundleRefused(f"{bundle}: {name!r} {what}")
    kinds.update(dict.fromkeys(parents, True))
    kinds[name] = folder


def _folder(dest: Path, name: str, bundle: Path) -> int:
    try:
        return open_folder(dest, name)
    except LinkInTheWay:
        raise BundleRefused(f"{bundle}: {name!r} would be written through a link") from None


def _write_member(
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    dest: Path,
    name: str,
    bundle: Path,
    size: int,
) -> None:
    folder, _, base = name.rpartition("/")
    folder_fd = _folder(dest, folder, bundle)
    try:
        source = archive.extractfile(member)
        assert source is not None
        try:
            handle = os.fdopen(create_file(base, folder_fd), "wb")
        except FileExistsError:
            raise BundleRefused(f"{bundle}: {member.name!r} appears twice") from None
        with handle, source:
            left = size
            while left > 0 and (chunk := source.read(min(left, 1 << 20))):
                handle.write(chunk)
                left -= len(chunk)
    finally:
        os.close(folder_fd)


def _safe_name(name: str, bundle: Path) -> str:
    clean = posixpath.normpath(name)
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\0" in name
        or clean.startswith("..")
        or clean in (".", "")
    ):
        raise BundleRefused(
            f"{bundle}: member name {name!r} leaves the bundle: refused (ask for a bundle made "
            "by radiops bundle)"
        )
    return clean
