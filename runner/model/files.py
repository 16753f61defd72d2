"""Writing files: never half of one, and never through a link.

Repository content may come from a stranger's pull request, and bundles and
git trees from anyone: a link committed where radiops writes (a run folder,
the artifact store) must not carry the write elsewhere. :func:`open_folder`
is the one walk that reaches a folder without following any link.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from contextlib import suppress
from pathlib import Path

from runner.model.errors import InvalidInput

_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class LinkInTheWay(InvalidInput):
    """A link, or a file, stands where radiops needs a folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"{path}: is a link or a file where radiops writes a folder; radiops never "
            "writes through links: remove it (and commit no links there)"
        )


def open_folder(base: Path, relative: str, *, create: bool = True) -> int:
    """A descriptor of the folder ``base/relative``, reached without following any link.

    ``base`` is trusted; below it, each component of ``relative`` (``/``
    separated) is opened with O_NOFOLLOW relative to the one before, and made
    first when missing and ``create``. LinkInTheWay names the first component
    that is a link or a file. The caller closes the descriptor.
    """
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"not a plain relative path: {relative!r}")
    fd = os.open(base, _FOLDER)
    try:
        for depth, part in enumerate(parts, start=1):
            try:
                inner = _open_part(part, fd, create=create)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EEXIST):
                    raise LinkInTheWay(base.joinpath(*parts[:depth])) from None
                raise
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_part(part: str, fd: int, *, create: bool) -> int:
    try:
        return os.open(part, _FOLDER | os.O_NOFOLLOW, dir_fd=fd)
    except FileNotFoundError:
        if not create:
            raise
    with suppress(FileExistsError):  # made meanwhile, or a link: the open below tells
        os.mkdir(part, 0o755, dir_fd=fd)
    return os.open(part, _FOLDER | os.O_NOFOLLOW, dir_fd=fd)


def create_file(name: str, folder_fd: int, mode: int = 0o644) -> int:
    """A new file ``name`` in the folder ``folder_fd``, open for writing (never a link's target).

    FileExistsError when anything (a file, a folder, a link) already has that name.
    """
    return os.open(name, _NEW_FILE, mode, dir_fd=folder_fd)


def write_atomic(path: Path, text: str, *, within: Path | None = None) -> None:
    """Replace ``path`` with ``text`` (UTF-8, newlines untouched), keeping its mode.

    A reader sees the old file or the new one, never a part. With ``within``
    (a folder holding ``path``), the folders between the two are reached with
    :func:`open_folder`, so a link among them is refused, not followed.
    """
    base = within if within is not None else path.parent
    folder_fd = open_folder(base, path.parent.relative_to(base).as_posix())
    try:
        try:
            found = os.stat(path.name, dir_fd=folder_fd, follow_symlinks=False)
            mode = 0o644 if stat.S_ISLNK(found.st_mode) else stat.S_IMODE(found.st_mode)
        except FileNotFoundError:
            mode = 0o644
        temporary = f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            with os.fdopen(create_file(temporary, folder_fd, 0o600), "wb") as out:
                os.fchmod(out.fileno(), mode)
                out.write(text.encode("utf-8"))
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path.name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(temporary, dir_fd=folder_fd)
            raise
    finally:
        os.close(folder_fd)
