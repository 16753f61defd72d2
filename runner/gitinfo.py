"""What code a run came from: the one module that reads git (through pygit2)."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import FileStatus

from runner.engines import scrub


@dataclass(frozen=True, kw_only=True)
class CodeInfo:
    repository: str  # origin URL without credentials, else the checkout's path
    commit: str | None  # None outside git or before the first commit
    branch: str | None  # None when detached or outside git
    dirty: bool  # the working tree differs from the commit (runs/ output aside)
    author_name: str
    author_email: str
    commit_message: str


def code_info(root: Path) -> CodeInfo:
    """Provenance of the repository at ``root``; outside git: no commit, dirty."""
    found = pygit2.discover_repository(str(root))
    if found is None:
        return _no_commit(str(root.resolve()))
    repo = pygit2.Repository(found)
    origin = next((r.url for r in repo.remotes if r.name == "origin" and r.url), None)
    repository = scrub(origin) if origin else str(Path(repo.workdir or root).resolve())
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


def _dirty(repo: pygit2.Repository) -> bool:
    # results written by earlier runs do not make the code dirty
    for path, flags in repo.status().items():
        if flags & FileStatus.IGNORED:
            continue
        parts = path.split("/")
        if len(parts) > 3 and parts[0] == "experiments" and parts[2] == "runs":
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
