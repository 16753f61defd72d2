"""A token in the origin URL's user part is recorded nowhere: not in the run's pending
record, not in its manifest, not in a message; and the manifest still validates."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from runner.model.remotes import without_credentials
from runner.model.schemas import data_errors
from tests.testing.repos import (
    add_scenario,
    commit_all,
    git,
    make_run_repo,
    radiops_started,
    shell_scenario,
)

TOKEN = "ghp_canary0123456789abcdefDoNotRecord"  # noqa: S105 - a canary, not a secret
PUBLIC = "https://git.example.org/lab/radios.git"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://{TOKEN}@git.example.org/lab/radios.git", PUBLIC),
        (f"https://someone:{TOKEN}@git.example.org/lab/radios.git", PUBLIC),
        (f"http://x-access-token:{TOKEN}@git.example.org:8080/r", "http://git.example.org:8080/r"),
        (f"ssh://{TOKEN}@git.example.org/lab/r.git", "ssh://git.example.org/lab/r.git"),
        (f"{TOKEN}@git.example.org:lab/r.git", "git.example.org:lab/r.git"),
        ("git@git.example.org:lab/r.git", "git.example.org:lab/r.git"),
        (PUBLIC, PUBLIC),
        ("/home/me@lab/radios", "/home/me@lab/radios"),
        ("unix:///var/run/docker.sock", "unix:///var/run/docker.sock"),
    ],
)
def test_the_whole_user_part_is_dropped(url: str, shown: str) -> None:
    assert without_credentials(url) == shown


@pytest.mark.docker
@pytest.mark.parametrize("userinfo", [TOKEN, f"someone:{TOKEN}"], ids=["token", "user-token"])
def test_a_token_in_the_origin_url_reaches_no_record(tmp_path: Path, userinfo: str) -> None:
    repo = make_run_repo(tmp_path)
    git(repo, "remote", "add", "origin", f"https://{userinfo}@git.example.org/lab/radios.git")
    add_scenario(repo, "slowish", shell_scenario("slowish", script="sleep 4; echo done"))
    commit_all(repo, "a run that lasts a few seconds")
    runner = radiops_started(repo, "run", "experiments/slowish")
    runs = repo / "experiments" / "slowish" / "runs"
    pending: dict[str, object] | None = None
    deadline = time.monotonic() + 300
    while pending is None and runner.poll() is None and time.monotonic() < deadline:
        for path in runs.glob("*/pending.json"):
            try:
                pending = json.loads(path.read_text())
            except (OSError, ValueError):  # caught between the write and the rename
                continue
        time.sleep(0.05)
    out, err = runner.communicate(timeout=300)
    assert runner.returncode == 0, err
    assert pending is not None, "the run's pending record was never seen"
    assert TOKEN not in json.dumps(pending)
    assert pending["code"]["repository"] == PUBLIC  # type: ignore[index]
    (run_dir,) = runs.iterdir()
    assert not (run_dir / "manifest.invalid.json").exists()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["code"]["repository"] == PUBLIC
    assert data_errors(manifest, "manifest") == []
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), f"the token is in {path}"
    assert TOKEN not in out + err
