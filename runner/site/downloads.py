"""Where a run's outputs and logs can be downloaded from the site.

Inline files (beside the manifest) are copied into the site. Outputs in the
artifact store are linked under testbed.yaml's ``artifacts.url`` when it is
set, else copied from the store directory when it is on the building machine,
else shown as not published. Copies are named by their sha256 with a
``.bin`` (outputs) or ``.txt`` (logs) extension, never by the name a
container chose, so a web server cannot serve an output as HTML or script on
the site's origin; the link's ``download`` attribute gives back the name.
They all live in one folder of the site, ``files/<first two hex>/``: a file
that several runs hold (an empty log, the same output) is published once.

A copy is published under a sha256 only when its bytes have that sha256:
every file is read and hashed (through a descriptor, see ``check_file``)
before a page offers it, and one whose bytes do not match what its manifest
claims is refused with a note on the page. So no manifest can put its own
bytes under another run's file. No symbolic link is followed on the way to a
file, in a run directory or in the store (a repository can hold links, and
the store ``.radiops/artifacts`` lies in the repository): every folder from
the run directory or the store's root is opened with O_NOFOLLOW, and a link
is refused with a note.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from runner.model.repo import is_safe_relative
from runner.site.collect import Store

MAX_COPY_BYTES = 100 << 20  # store objects bigger than this are linked only, never copied
_CAS = re.compile(r"^cas://sha256/([0-9a-f]{64})$")
_CHUNK = 1 << 20
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a pipe left in a store must not hang the build (it is refused below)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

MISMATCH = "not published: its bytes do not have the sha256 its manifest gives"


class NotPublished(Exception):
    """A file the site does not publish; the message says why, for the page."""


@dataclass(frozen=True, kw_only=True)
class Checked:
    """A file whose bytes, read through a descriptor that followed no link, hash to ``sha256``."""

    root: Path  # the folder the walk started from (a run directory, the store)
    relative: str  # the file below it, "/"-separated
    sha256: str
    identity: tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns of what was read

    @property
    def path(self) -> Path:
        return self.root / self.relative


@dataclass(frozen=True, kw_only=True)
class Download:
    """A file of a run as the site offers it."""

    name: str  # the file name a person saves it under
    url: str | None = None  # where it is published outside the site (the artifact store)
    why_not: str = ""  # when neither url nor file
    file: Checked | None = None  # the file to copy into the site
    site_path: str | None = None  # where the copy goes, relative to the site's root

    @property
    def refused(self) -> bool:
        """True when a file was there but is not published (a link, other bytes)."""
        return self.why_not.startswith("not published:")


def output_download(entry: Mapping[str, Any], run_dir: Path, store: Store) -> Download:
    """How to get one ``outputs[]`` entry of a manifest."""
    name = PurePosixPath(str(entry["path"])).name or "output"
    sha256 = str(entry["sha256"])
    storage = entry["storage"]
    if storage["kind"] == "inline":
        return _inline(str(storage["location"]), run_dir, name, sha256, ".bin")
    match = _CAS.match(str(storage["location"]))
    if match is None:
        return Download(name=name, why_not="unknown store address")
    digest = match.group(1)
    if store.url:
        return Download(name=name, url=f"{store.url.rstrip('/')}/sha256/{digest[:2]}/{digest}")
    if store.path is None:
        return Download(name=name, why_not=store.why_not or "in the artifact store, not published")
    if digest != sha256:
        return Download(name=name, why_not=f"{MISMATCH} (its store address names other bytes)")
    try:
        checked = check_file(
            store.path, f"sha256/{digest[:2]}/{digest}", digest, max_bytes=MAX_COPY_BYTES
        )
    except FileNotFoundError:
        return Download(name=name, why_not="not in the artifact store here")
    except NotPublished as refused:
        return Download(name=name, why_not=str(refused))
    return Download(name=name, file=checked, site_path=site_file(digest, ".bin"))


def plotted_output(entry: Mapping[str, Any], store: Store) -> Checked | None:
    """A store output on this machine that is not copied (too big, or published at the
    store's URL), checked as ``check_file`` does, for plotting only; None when there is none.
    """
    match = _CAS.match(str(entry["storage"]["location"]))
    if store.path is None or match is None or match.group(1) != entry["sha256"]:
        return None
    digest = match.group(1)
    try:
        return check_file(store.path, f"sha256/{digest[:2]}/{digest}", digest)
    except (FileNotFoundError, NotPublished):
        return None


def log_download(entry: Mapping[str, Any], run_dir: Path) -> Download:
    """How to get one ``logs[]`` entry: always inline."""
    name = f"{entry['role']}-{entry['index']}-{entry['stream']}.log"
    return _inline(str(entry["path"]), run_dir, name, str(entry["sha256"]), ".txt")


def site_file(sha256: str, suffix: str) -> str:
    """Where the file with this sha256 is published in the site (from its root)."""
    return f"files/{sha256[:2]}/{sha256}{suffix}"


def _inline(location: str, run_dir: Path, name: str, sha256: str, suffix: str) -> Download:
    if not is_safe_relative(location):
        return Download(name=name, why_not="unsafe path in the manifest")
    try:
        checked = check_file(run_dir, location, sha256)
    except FileNotFoundError:
        return Download(name=name, why_not="missing from the run directory")
    except NotPublished as refused:
        return Download(name=name, why_not=str(refused))
    return Download(name=name, file=checked, site_path=site_file(sha256, suffix))


def open_below(root: Path, relative: str) -> int:
    """A read-only descriptor of ``root/relative``, reached through no symbolic link.

    ``root`` itself is opened as it is (the caller vouches for it: a run
    directory the site checked, the store's configured root); every folder
    below it and the file are opened with O_NOFOLLOW, each relative to the
    one before, so a link anywhere on the way is refused and nothing can be
    swapped in between a check and the open. Raises FileNotFoundError when
    something on the way is missing, NotPublished for a link or an unsafe path.
    """
    parts = relative.split("/")
    if "" in parts or "." in parts or ".." in parts:
        raise NotPublished("not published: an unsafe path")
    try:
        folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise NotPublished(f"not published: {root.name}: {error.strerror}") from None
    try:
        for part in parts[:-1]:
            inner = _open_part(part, folder, _FOLDER_FLAGS, relative)
            os.close(folder)
            folder = inner
        return _open_part(parts[-1], folder, _FILE_FLAGS, relative)
    finally:
        os.close(folder)


def _open_part(part: str, folder: int, flags: int, relative: str) -> int:
    try:
        return os.open(part, flags, dir_fd=folder)
    except FileNotFoundError:
        raise
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            try:
                is_link = stat.S_ISLNK(os.lstat(part, dir_fd=folder).st_mode)
            except OSError:
                is_link = False
            if is_link:
                raise NotPublished(
                    f"not published: {relative} leads through a symbolic link ({part})"
                ) from None
            raise NotPublished(f"not published: {part} in {relative} is not a folder") from None
        raise NotPublished(f"not published: {error.strerror}") from None


def check_file(root: Path, relative: str, sha256: str, *, max_bytes: int | None = None) -> Checked:
    """``root/relative`` when it is a regular file (no link on the way) with this sha256.

    Raises FileNotFoundError when it is missing, NotPublished (its message
    for the page) when it is a link, not a regular file, bigger than
    ``max_bytes`` or other bytes than ``sha256`` says.
    """
    fd = open_below(root, relative)
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise NotPublished("not published: not a regular file")
        if max_bytes is not None and status.st_size > max_bytes:
            raise NotPublished("too big to copy into the site")
        digest = hashlib.sha256()
        while chunk := os.read(fd, _CHUNK):  # most are small: one read, one more for the end
            digest.update(chunk)
    except OSError as error:
        raise NotPublished(f"not published: {error.strerror}") from None
    finally:
        os.close(fd)
    if digest.hexdigest() != sha256:
        raise NotPublished(MISMATCH)
    identity = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
    return Checked(root=root, relative=relative, sha256=sha256, identity=identity)


def publish(file: Checked, target: Path) -> None:
    """Put ``file`` at ``target`` (in the built site): the very file hashed, or a checked copy.

    A hard link when the file system allows and the entry linked is still the
    file ``check_file`` read (same device, inode, size and modification
    time): no link is followed (``os.link`` without following), and a swapped
    entry is unlinked again. Otherwise the file is opened again as
    ``check_file`` does and copied, hashed while it is copied; a copy whose
    bytes no longer hash to ``file.sha256`` is removed and NotPublished raised.
    """
    try:
        _link(file.path, target)
    except OSError:
        pass  # another file system, or links not allowed: copied below
    else:
        try:
            status = os.lstat(target)
        except OSError:
            status = None
        if status is not None and stat.S_ISREG(status.st_mode):
            found = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
            if found == file.identity:
                return
        target.unlink(missing_ok=True)
    _copy_hashed(file, target)


def _link(source: Path, target: Path) -> None:
    # tens of thousands of files: the common case (a new link in an existing
    # folder) costs one system call
    try:
        os.link(source, target, follow_symlinks=False)
    except FileNotFoundError:  # the folder is not there yet
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(source, target, follow_symlinks=False)
    except FileExistsError:  # left by an earlier build (mkdocs build --dirty, serve)
        target.unlink()
        os.link(source, target, follow_symlinks=False)


def _copy_hashed(file: Checked, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        source = os.fdopen(open_below(file.root, file.relative), "rb")
    except FileNotFoundError:
        raise NotPublished(f"not published: {file.relative} is gone") from None
    with source:
        if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
            raise NotPublished("not published: not a regular file")
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
        try:
            digest = hashlib.sha256()
            with os.fdopen(handle, "wb") as out:
                for chunk in iter(lambda: source.read(_CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
                os.fchmod(out.fileno(), 0o644)
            if digest.hexdigest() != file.sha256:
                raise NotPublished(f"{MISMATCH} (it changed during the build)")
            Path(temporary).replace(target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
