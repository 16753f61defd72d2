"""``radiops watch`` against a bare repository: each new head once, even across restarts."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from runner.cli.commands.watch import watch
from runner.model.report import LineReporter
from tests.testing.repos import PROJECT, commit_all, git
from tests.testing.testbed_fixtures import Testbed

pytestmark = pytest.mark.docker


def watch_once(origin: Path, workdir: Path) -> list[tuple[str, list[str]]]:
    handled = watch(
        remote_url=str(origin),
        branches="feature-*",
        base="main",
        workdir=workdir,
        reporter=LineReporter(io.StringIO()),
        cancel=threading.Event(),
        once=True,
    )
    return [(h.branch, [r.experiment for r in h.report.rows] if h.report else []) for h in handled]


def branch(other: Path, name: str, experiment: str) -> None:
    git(other, "checkout", "-q", "-B", name, "origin/main")
    (other / "experiments" / experiment / "README.md").write_text(f"# {experiment} on {name}\n")
    commit_all(other, f"touch {experiment}")
    git(other, "push", "-q", "origin", name)


def test_watch_runs_each_new_head_once_and_nothing_twice_after_a_restart(
    testbed: Testbed,
    project: tuple[Path, Path, Path],
    tmp_path: Path,
) -> None:
    origin, _, other = project
    branch(other, "feature-1", "a")
    branch(other, "feature-2", "c")
    workdir = tmp_path / "watcher"
    assert watch_once(origin, workdir) == [("feature-1", ["a"]), ("feature-2", ["c"])]
    for name, experiment in (("feature-1", "a"), ("feature-2", "c")):
        files = git(origin, "ls-tree", "-r", "--name-only", name).split()
        assert any(f.startswith(f"experiments/{experiment}/runs/") for f in files)

    # a restart: a new process, the same state, no new head: nothing runs
    restart = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "watch",
            "--remote",
            str(origin),
            "--branches",
            "feature-*",
            "--workdir",
            str(workdir),
            "--once",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
    )
    assert restart.returncode == 0, restart.stderr
    assert "is at" not in restart.stderr, restart.stderr

    # a new push to one branch: exactly that head, exactly what it touches (a again:
    # its record is on the branch, and only the base's records count as earlier runs)
    git(other, "fetch", "-q", "origin")
    git(other, "checkout", "-q", "-B", "feature-1", "origin/feature-1")
    (other / "experiments" / "b" / "README.md").write_text("# b\n")
    commit_all(other, "touch b too")
    git(other, "push", "-q", "origin", "feature-1")
    assert watch_once(origin, workdir) == [("feature-1", ["a", "b"])]
    assert watch_once(origin, workdir) == []
