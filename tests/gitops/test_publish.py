"""Results committed and pushed with pygit2, against real repositories (a bare origin, clones)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest

from runner.gitops.publish import BOT, PushRejected, commit_run, open_repository, push
from tests.testing.repos import commit_all, git


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[str]:
    """``git daemon`` on loopback serving tmp_path: a real transport, with server-side hooks."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            f"--base-path={tmp_path}",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        with socket.socket() as client:
            if client.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert time.monotonic() < deadline, "git daemon did not start"
        time.sleep(0.05)
    try:
        yield f"git://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def origin_and_clones(
    tmp_path: Path, count: int = 2, *, url: str | None = None
) -> tuple[Path, list[Path]]:
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    (seed / "experiments" / "x").mkdir(parents=True)
    (seed / "experiments" / "x" / "experiment.yaml").write_text("name: x\n")
    commit_all(seed, "seed")
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(origin))
    clones = []
    for i in range(count):
        clone = tmp_path / f"clone{i}"
        git(tmp_path, "clone", "-q", f"{url}/origin.git" if url else str(origin), str(clone))
        clones.append(clone)
    return origin, clones


def make_run(clone: Path, run_id: str, content: str = "{}") -> Path:
    run_dir = clone / "experiments" / "x" / "runs" / run_id
    (run_dir / "outputs").mkdir(parents=True)
    (run_dir / "manifest.json").write_text(content)
    (run_dir / "outputs" / "data.bin").write_bytes(bytes(range(256)))
    return run_dir


def files_on(origin: Path, branch: str = "main") -> set[str]:
    return set(git(origin, "ls-tree", "-r", "--name-only", branch).split())


def test_a_run_is_committed_alone_and_pushed(tmp_path: Path) -> None:
    origin, (clone, _) = origin_and_clones(tmp_path)
    (clone / "stray.txt").write_text("not a result")  # must not be swept into the commit
    repo = open_repository(clone)
    run_dir = make_run(clone, "20260101T000000Z-00000001")
    commit = commit_run(repo, run_dir, branch="main", identity=BOT, message="radiops: x run 1")
    assert commit is not None
    assert push(repo, remote_name="origin", branch="main") == 1
    assert files_on(origin) == {
        "experiments/x/experiment.yaml",
        "experiments/x/runs/20260101T000000Z-00000001/manifest.json",
        "experiments/x/runs/20260101T000000Z-00000001/outputs/data.bin",
    }
    log = git(origin, "log", "-1", "--format=%an <%ae>|%s", "main").strip()
    assert log == f"{BOT.name} <{BOT.email}>|radiops: x run 1"
    # the same run again changes nothing
    assert commit_run(repo, run_dir, branch="main", identity=BOT, message="again") is None


@pytest.mark.parametrize("transport", ["file", "git"])
def test_a_push_that_lost_a_race_replays_and_loses_nothing(
    tmp_path: Path, daemon: str, transport: str
) -> None:
    origin, (mine, theirs) = origin_and_clones(tmp_path, url=daemon if transport == "git" else None)
    repo = open_repository(mine)
    commit_run(
        repo,
        make_run(mine, "20260101T000000Z-0000000a"),
        branch="main",
        identity=BOT,
        message="ours",
    )
    # meanwhile someone else pushes to the same branch
    (theirs / "notes.md").write_text("pushed during the run\n")
    commit_all(theirs, "theirs")
    git(theirs, "push", "-q", "origin", "main")
    retries: list[str] = []
    attempts = push(
        repo, remote_name="origin", branch="main", sleep=lambda _: None, on_retry=retries.append
    )
    assert attempts == 2 and retries
    on_origin = files_on(origin)
    assert "notes.md" in on_origin
    assert "experiments/x/runs/20260101T000000Z-0000000a/manifest.json" in on_origin
    subjects = git(origin, "log", "--format=%s", "main").split("\n")
    assert subjects[:2] == ["ours", "theirs"]
    # the local checkout follows the branch it pushed, with the other push in it
    assert (mine / "notes.md").exists() is False  # files are not checked out by a replay...
    assert repo.head.shorthand == "main"
    assert str(repo.head.target) == git(origin, "rev-parse", "main").strip()


def test_ten_concurrent_pushers_all_land(tmp_path: Path, daemon: str) -> None:
    origin, clones = origin_and_clones(tmp_path, count=10, url=daemon)
    errors: list[BaseException] = []

    def publish(i: int, clone: Path) -> None:
        try:
            repo = open_repository(clone)
            commit_run(
                repo,
                make_run(clone, f"20260101T000000Z-{i:08x}"),
                branch="main",
                identity=BOT,
                message=f"run {i}",
            )
            push(repo, remote_name="origin", branch="main", attempts=30)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=(i, c)) for i, c in enumerate(clones)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    runs = {p.split("/")[3] for p in files_on(origin) if "/runs/" in p}
    assert runs == {f"20260101T000000Z-{i:08x}" for i in range(10)}


def test_a_refused_push_is_reported_not_published(tmp_path: Path, daemon: str) -> None:
    origin, (clone, _) = origin_and_clones(tmp_path, url=daemon)
    hook = origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'results are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    repo = open_repository(clone)
    commit_run(
        repo,
        make_run(clone, "20260101T000000Z-000000ff"),
        branch="main",
        identity=BOT,
        message="ours",
    )
    before = git(origin, "rev-parse", "main")
    with pytest.raises(PushRejected):
        push(repo, remote_name="origin", branch="main", sleep=lambda _: None)
    assert git(origin, "rev-parse", "main") == before


def test_commit_on_a_detached_checkout_starts_the_branch_there(tmp_path: Path) -> None:
    _, (clone, _) = origin_and_clones(tmp_path)
    head = git(clone, "rev-parse", "HEAD").strip()
    git(clone, "checkout", "-q", "--detach", head)
    repo = open_repository(clone)
    commit = commit_run(
        repo,
        make_run(clone, "20260101T000000Z-000000d0"),
        branch="pr-7",
        identity=BOT,
        message="ours",
    )
    assert commit is not None
    assert str(repo[commit].peel(pygit2.Commit).parents[0].id) == head
    assert repo.head.shorthand == "pr-7"
