"""A hostile git tree cannot make ``export_tree`` write outside its destination (issue, item 10).

Git trees may hold a link ``x`` and a folder ``x/`` side by side; a bare
remote that ``radiops watch`` follows accepts such a push. Built here with
git's plumbing, as an attacker would.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from runner.gitops.gitinfo import export_tree
from runner.model.errors import InvalidInput
from tests.testing.repos import git


def plumb(repo: Path, command: str, text: str) -> str:
    """``git COMMAND`` (hash-object, mktree...) with ``text`` on its standard input."""
    return subprocess.run(
        ["git", *command.split()], cwd=repo, input=text, capture_output=True, text=True, check=True
    ).stdout.strip()


def hostile_commit(repo: Path, images: str) -> str:
    """A commit whose tree is ``images/`` = the ``git mktree`` listing ``images``."""
    images_tree = plumb(repo, "mktree", images)
    top = plumb(repo, "mktree", f"040000 tree {images_tree}\timages\n")
    return git(repo, "commit-tree", top, "-m", "hostile").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", str(repo))
    return repo


def test_a_link_and_a_folder_of_the_same_name_write_nothing_outside(
    repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    payload = plumb(repo, "hash-object -w --stdin", "planted\n")
    link = plumb(repo, "hash-object -w --stdin", str(outside))
    folder = plumb(repo, "mktree", f"100644 blob {payload}\tevil.sh\n")
    commit = hostile_commit(repo, f"120000 blob {link}\tx\n040000 tree {folder}\tx\n")
    assert "\tx\n" in git(repo, "ls-tree", f"{commit}:images") + "\n"  # both are there

    dest = tmp_path / "dest"
    with pytest.raises(InvalidInput, match=f"commit {commit}: images/x"):
        export_tree(repo, commit, ["images/"], dest)
    assert list(outside.iterdir()) == []


def test_a_file_and_a_folder_of_the_same_name_are_refused(repo: Path, tmp_path: Path) -> None:
    payload = plumb(repo, "hash-object -w --stdin", "data\n")
    folder = plumb(repo, "mktree", f"100644 blob {payload}\tinner\n")
    commit = hostile_commit(repo, f"100644 blob {payload}\tx\n040000 tree {folder}\tx\n")
    with pytest.raises(InvalidInput, match="images/x"):
        export_tree(repo, commit, ["images/"], tmp_path / "dest")
    assert not (tmp_path / "dest" / "images" / "x" / "inner").exists()


def test_an_ordinary_tree_is_exported_with_its_links_and_modes(repo: Path, tmp_path: Path) -> None:
    payload = plumb(repo, "hash-object -w --stdin", "#!/bin/sh\n")
    link = plumb(repo, "hash-object -w --stdin", "run.sh")
    folder = plumb(repo, "mktree", f"100755 blob {payload}\trun.sh\n120000 blob {link}\tgo\n")
    commit = hostile_commit(repo, f"040000 tree {folder}\thello\n")
    dest = tmp_path / "dest"
    assert export_tree(repo, commit, ["images/"], dest) == [
        "images/hello/go",
        "images/hello/run.sh",
    ]
    assert (dest / "images/hello/go").readlink() == Path("run.sh")
    assert (dest / "images/hello/run.sh").stat().st_mode & 0o777 == 0o755
