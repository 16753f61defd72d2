"""gitops/gitinfo.commit_named: the one rule for "which commit does this id name"."""

from __future__ import annotations

from pathlib import Path

import pygit2

from runner.gitops.gitinfo import commit_named


def test_only_a_commit_is_named(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path))
    (tmp_path / "a.txt").write_text("a\n")
    repo.index.add("a.txt")
    repo.index.write()
    tree = repo.index.write_tree()
    who = pygit2.Signature("A", "a@example.org")
    commit_id = repo.create_commit("HEAD", who, who, "first", tree, [])
    commit = commit_named(repo, str(commit_id))
    assert commit is not None and commit.id == commit_id
    assert commit_named(repo, str(commit_id)[:12]) == commit
    assert commit_named(repo, "HEAD") == commit
    assert commit_named(repo, str(tree)) is None  # a tree, not a commit
    assert commit_named(repo, "0" * 40) is None
    assert commit_named(repo, "not a revision") is None
