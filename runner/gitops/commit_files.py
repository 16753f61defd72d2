"""Which files of two runs' experiments and images changed between the runs' commits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pygit2
from pygit2.enums import DeltaStatus

from runner.gitops.gitinfo import commit_named
from runner.model.problems import printable
from runner.model.repo import EXPERIMENTS, Repository, is_run_path
from runner.model.run_diff_records import CodeChanges

CHANGED_FILES_MAX = 200
_STATUS = {
    DeltaStatus.ADDED: "added",
    DeltaStatus.DELETED: "deleted",
    DeltaStatus.MODIFIED: "modified",
    DeltaStatus.RENAMED: "renamed",
    DeltaStatus.TYPECHANGE: "type changed",
}


def changed_files(repo: Repository, ma: Mapping[str, Any], mb: Mapping[str, Any]) -> CodeChanges:
    """Files of the two experiments and their images changed between the runs' commits."""
    ca, cb = ma["code"]["commit"], mb["code"]["commit"]
    if ca == cb:
        return CodeChanges()
    if ca is None or cb is None:
        return CodeChanges(note="one of the runs records no commit (it ran outside git)")
    try:
        return _git_changes(repo, ma, mb, ca, cb)
    except pygit2.GitError as exc:
        return CodeChanges(note=f"git could not compare the commits: {printable(str(exc))}")


def _git_changes(
    repo: Repository, ma: Mapping[str, Any], mb: Mapping[str, Any], ca: str, cb: str
) -> CodeChanges:
    found = pygit2.discover_repository(str(repo.root))
    if found is None:
        return CodeChanges(note=f"{repo.root} is not a git repository: files not compared")
    git = pygit2.Repository(found)
    commits: list[pygit2.Commit] = []
    for commit, run in ((ca, "A"), (cb, "B")):
        obj = commit_named(git, commit)
        if obj is None:
            return CodeChanges(
                note=f"run {run}'s commit {commit[:12]} is not in this repository (git fetch "
                "it to see which files changed)"
            )
        commits.append(obj)
    prefixes = {f"{EXPERIMENTS}/{m['experiment']['name']}/" for m in (ma, mb)}
    prefixes |= {
        f"{image['image'].rstrip('/')}/"
        for m in (ma, mb)
        for image in m["images"]
        if str(image["image"]).startswith("images/")
    }
    files = []
    for delta in commits[0].tree.diff_to_tree(commits[1].tree).deltas:
        path = delta.new_file.path if delta.status != DeltaStatus.DELETED else delta.old_file.path
        if is_run_path(path) or not any(path.startswith(p) for p in prefixes):
            continue
        files.append((_STATUS.get(delta.status, "changed"), path))
    files.sort(key=lambda item: item[1])
    return CodeChanges(
        files=tuple(files[:CHANGED_FILES_MAX]), more=max(0, len(files) - CHANGED_FILES_MAX)
    )
