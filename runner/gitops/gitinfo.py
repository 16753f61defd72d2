"""What code a run came from: the one module that reads git (through pygit2)."""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from pathlib import Path

import pygit2
from pygit2.enums import FileMode, FileStatus

from runner.model.errors import InvalidInput
from runner.model.files import LinkInTheWay, create_file, open_folder
from runner.model.manifest import CodeInfo
from runner.model.remotes import without_credentials
from runner.model.repo import is_run_path


def code_info(root: Path) -> CodeInfo:
    """Provenance of the repository at ``root``; outside git: no commit, dirty."""
    found = pygit2.discover_repository(str(root))
    if found is None:
        return _no_commit(str(root.resolve()))
    repo = pygit2.Repository(found)
    repository = _repository(repo, root)
    if repo.head_is_unborn:
        return _no_commit(repository)
    commit = repo[repo.head.target]
    assert isinstance(commit, pygit2.Commit)
    return CodeInfo(
        repository=repository,
        commit=str(commit.id),
        branch=None if repo.head_is_detached else repo.head.shorthand,
        dirty=_dirty(repo),
        author_name=commit.author.name,
        author_email=commit.author.email,
        commit_message=commit.message.strip(),
    )


def _repository(repo: pygit2.Repository, root: Path) -> str:
    """What a record names the repository by: origin's URL without its user part
    (where tokens are written), else the checkout's path."""
    origin = next((r.url for r in repo.remotes if r.name == "origin" and r.url), None)
    return without_credentials(origin) if origin else str(Path(repo.workdir or root).resolve())


def _dirty(repo: pygit2.Repository) -> bool:
    # results written by earlier runs do not make the code dirty
    for path, flags in repo.status().items():
        if flags & FileStatus.IGNORED:
            continue
        if is_run_path(path):
            continue
        return True
    return False


def _no_commit(repository: str) -> CodeInfo:
    """Outside git, or before the first commit: nothing to point at, so dirty."""
    return CodeInfo(
        repository=repository,
        commit=None,
        branch=None,
        dirty=True,
        author_name=current_user(),
        author_email="",
        commit_message="",
    )


def current_user() -> str:
    """The login name of whoever runs radiops."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class CommitMissing(InvalidInput):
    """The commit a run recorded is not in this repository."""


def commit_info(root: Path, commit: str) -> CodeInfo:
    """Provenance of ``commit`` of the repository at ``root`` (a clean checkout of it)."""
    repo, found = _commit(root, commit)
    return CodeInfo(
        repository=_repository(repo, root),
        commit=str(found.id),
        branch=None,
        dirty=False,
        author_name=found.author.name,
        author_email=found.author.email,
        commit_message=found.message.strip(),
    )


class HostileTree(InvalidInput):
    """A commit's tree that cannot be written as files (git trees may hold what folders cannot)."""


def export_tree(root: Path, commit: str, prefixes: Sequence[str], dest: Path) -> list[str]:
    """Write the files of ``commit`` under ``prefixes`` (e.g. ``images/``) into ``dest``.

    Files keep their executable bit, links are written as links (the image
    checks refuse those that lead out). The paths written, relative to ``dest``.
    A tree may come from a stranger's push: a name written twice (a link ``x``
    and a folder ``x/``) is refused, and nothing is written through a link.
    """
    repo, found = _commit(root, commit)
    dest.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()  # every name met, folders too
    written: list[str] = []
    stack: list[tuple[pygit2.Tree, str]] = [(found.tree, "")]
    while stack:
        tree, base = stack.pop()
        for entry in tree:
            name = entry.name or ""
            path = f"{base}{name}"
            wanted = any(path.startswith(p) or p.startswith(path + "/") for p in prefixes)
            if not wanted or name in ("", ".", "..") or "/" in name:
                continue
            if path in seen:
                raise HostileTree(f"commit {commit}: {path} appears twice in its tree")
            seen.add(path)
            obj = repo[entry.id]
            if isinstance(obj, pygit2.Tree):
                stack.append((obj, path + "/"))
            elif isinstance(obj, pygit2.Blob) and any(path.startswith(p) for p in prefixes):
                _write_entry(dest, path, obj.data, entry.filemode, commit=commit)
                written.append(path)
    return sorted(written)


def _write_entry(dest: Path, path: str, data: bytes, mode: int, *, commit: str) -> None:
    folder, _, name = path.rpartition("/")
    try:
        folder_fd = open_folder(dest, folder)
    except LinkInTheWay:
        raise HostileTree(
            f"commit {commit}: {path} is below a link or a file of the same tree"
        ) from None
    try:
        if mode == FileMode.LINK:
            os.symlink(data.decode("utf-8", "surrogateescape"), name, dir_fd=folder_fd)
        else:
            with os.fdopen(create_file(name, folder_fd), "wb") as out:
                out.write(data)
                if mode == FileMode.BLOB_EXECUTABLE:
                    os.fchmod(out.fileno(), 0o755)
    except FileExistsError:
        raise HostileTree(f"commit {commit}: {path} appears twice in its tree") from None
    finally:
        os.close(folder_fd)


def _commit(root: Path, commit: str) -> tuple[pygit2.Repository, pygit2.Commit]:
    found = pygit2.discover_repository(str(root))
    if found is None:
        raise CommitMissing(f"{root} is not a git repository; the run's commit {commit} is needed")
    repo = pygit2.Repository(found)
    obj = commit_named(repo, commit)
    if obj is None:
        raise CommitMissing(
            f"commit {commit} is not in this repository: fetch it (git fetch origin, or "
            "git fetch --unshallow for a shallow clone) and try again"
        )
    return repo, obj


def commit_named(repo: pygit2.Repository, commit: str) -> pygit2.Commit | None:
    """The commit the revision ``commit`` (an id, its prefix, a branch) names, or None: a
    missing or malformed one, or one that names a tree, a blob or a tag."""
    try:
        obj = repo.revparse_single(commit)
    except (KeyError, ValueError):
        return None
    return obj if isinstance(obj, pygit2.Commit) else None
