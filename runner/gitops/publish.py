"""Results back into git: one commit per run directory, pushed with retries (pygit2).

Run directories never conflict (each has a unique run id), so when the
branch moved during a run, our commits are replayed on top of the new tip
and pushed again: nothing anyone pushed meanwhile is lost, nor is any run.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import FileMode

from runner.model.errors import EnvironmentProblem, UsageError

# the name of the variable holding a token for https remotes (never written anywhere)
TOKEN_VARIABLE = "RADIOPS_GIT_TOKEN"  # noqa: S105 - a variable name, not a secret


@dataclass(frozen=True, kw_only=True)
class Identity:
    name: str
    email: str


BOT = Identity(name="radiops", email="radiops@users.noreply.github.com")


class PushRejected(EnvironmentProblem):
    """The remote refused the push for a reason a retry does not fix."""


def open_repository(path: Path) -> pygit2.Repository:
    found = pygit2.discover_repository(str(path))
    if found is None:
        raise UsageError(f"{path} is not inside a git repository")
    return pygit2.Repository(found)


def commit_run(
    repo: pygit2.Repository, run_dir: Path, *, branch: str, identity: Identity, message: str
) -> pygit2.Oid | None:
    """Commit the files of ``run_dir`` (and nothing else) on ``branch``; None if already there.

    The new tree is the branch tip's tree plus the run's files, so whatever
    else sits in the work tree or the index is never swept into the commit.
    """
    tip = _tip(repo, branch)
    workdir = Path(repo.workdir or ".").resolve()
    index = pygit2.Index()
    if tip is not None:
        index.read_tree(tip.tree)
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file() and not p.is_symlink()):
        relative = path.resolve().relative_to(workdir).as_posix()
        blob = repo.create_blob_fromdisk(str(path))
        mode = FileMode.BLOB_EXECUTABLE if os.access(path, os.X_OK) else FileMode.BLOB
        index.add(pygit2.IndexEntry(relative, blob, mode))
    tree = index.write_tree(repo)
    if tip is not None and tree == tip.tree.id:
        return None  # committing the same run again changes nothing
    signature = pygit2.Signature(identity.name, identity.email)
    parents = [tip.id] if tip is not None else []
    commit = repo.create_commit(
        f"refs/heads/{branch}", signature, signature, message, tree, parents
    )
    _sync_index(repo, branch)
    return commit


def push(
    repo: pygit2.Repository,
    *,
    remote_name: str,
    branch: str,
    attempts: int = 8,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[str], None] = lambda _: None,
) -> int:
    """Push ``branch``; when the remote moved, fetch, replay our commits, retry with backoff.

    Returns how many attempts it took. Raises PushRejected when the remote
    refuses for another reason, or when every attempt was raced.
    """
    remote = repo.remotes[remote_name]
    ref = f"refs/heads/{branch}"
    tracking = f"refs/remotes/{remote_name}/{branch}"
    for attempt in range(1, attempts + 1):
        rejected = _push_once(remote, ref)
        if rejected is None:
            _fetch(remote, branch, tracking)
            return attempt
        if not _is_race(rejected):
            raise PushRejected(f"the remote refused {branch}: {rejected}")
        on_retry(
            f"{branch} moved on the remote ({rejected}); replaying our commits, retry {attempt}"
        )
        _fetch(remote, branch, tracking)
        _replay(repo, ref, tracking)
        sleep(min(5.0, 0.2 * 2 ** (attempt - 1)) * (0.5 + random.random()))  # noqa: S311 - jitter
    raise PushRejected(f"{branch} kept moving: {attempts} pushes were raced; run again")


class _Callbacks(pygit2.RemoteCallbacks):
    """Captures per-reference results: pygit2 reports a rejection only here."""

    def __init__(self) -> None:
        token = os.environ.get(TOKEN_VARIABLE)
        credentials = pygit2.UserPass("x-access-token", token) if token else None
        super().__init__(credentials=credentials)
        self.rejected: str | None = None

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.rejected = f"{refname}: {message}"


def _push_once(remote: pygit2.Remote, ref: str) -> str | None:
    callbacks = _Callbacks()
    try:
        remote.push([f"{ref}:{ref}"], callbacks=callbacks)
    except pygit2.GitError as exc:
        return str(exc)
    return callbacks.rejected


def _is_race(message: str) -> bool:
    words = message.lower()
    # libgit2 (local) and git receive-pack (remote) word a lost race differently; a lock
    # held by a concurrent push is one too. Retries are bounded either way.
    races = (
        "fast-forward",
        "fetch first",
        "stale",
        "not present locally",
        "failed to update ref",
        "failed to lock",
    )
    return any(w in words for w in races)


def _fetch(remote: pygit2.Remote, branch: str, tracking: str) -> None:
    try:
        remote.fetch([f"+refs/heads/{branch}:{tracking}"], callbacks=_Callbacks())
    except pygit2.GitError as exc:
        raise EnvironmentProblem(f"cannot fetch {branch} from {remote.name}: {exc}") from None


def _replay(repo: pygit2.Repository, ref: str, tracking: str) -> None:
    """Re-apply our commits (those not on the remote) on top of the remote's tip."""
    upstream = repo.references[tracking].peel(pygit2.Commit)
    ours = repo.references[ref].peel(pygit2.Commit)
    base = repo.merge_base(ours.id, upstream.id)
    pending: list[pygit2.Commit] = []
    walker = ours
    while walker.id != base:
        pending.append(walker)
        if not walker.parents:
            break
        walker = walker.parents[0]
    current = upstream
    for commit in reversed(pending):
        index = pygit2.Index()
        index.read_tree(current.tree)
        if commit.parents:
            diff = commit.parents[0].tree.diff_to_tree(commit.tree)
        else:
            diff = commit.tree.diff_to_tree(swap=True)
        for delta in diff.deltas:
            if delta.status_char() == "D":
                index.remove(delta.old_file.path)
            else:
                new = delta.new_file
                index.add(pygit2.IndexEntry(new.path, new.id, new.mode))
        tree = index.write_tree(repo)
        new_id = repo.create_commit(
            None, commit.author, commit.committer, commit.message, tree, [current.id]
        )
        current = repo[new_id].peel(pygit2.Commit)
    repo.references[ref].set_target(current.id, "radiops: replay results on the moved branch")
    _sync_index(repo, ref.removeprefix("refs/heads/"))


def _tip(repo: pygit2.Repository, branch: str) -> pygit2.Commit | None:
    ref = repo.references.get(f"refs/heads/{branch}")
    if ref is not None:
        return ref.peel(pygit2.Commit)
    if repo.head_is_unborn:
        return None
    return repo.head.peel(pygit2.Commit)  # a detached checkout: the branch starts here


def _sync_index(repo: pygit2.Repository, branch: str) -> None:
    """Point HEAD at the branch and match the index to its tip (the files are on disk already)."""
    if repo.head_is_detached or repo.head.shorthand != branch:
        repo.set_head(f"refs/heads/{branch}")
    repo.index.read_tree(repo.head.peel(pygit2.Commit).tree)
    repo.index.write()


def current_branch(repo: pygit2.Repository) -> str | None:
    if repo.head_is_unborn or repo.head_is_detached:
        return None
    return repo.head.shorthand
