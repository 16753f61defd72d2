"""A small GitOps project for tests: a bare origin and two clones, three experiments."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.testing.repos import commit_all, git, shell_scenario


def scenario(name: str, image: str, script: str = "echo ok > $RADIOPS_OUTPUT_DIR/ok.txt") -> str:
    return shell_scenario(name, script=script).replace("images/tools", image)


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(origin, my clone on branch pr, another clone) with experiments a, b, c."""
    seed = tmp_path / "seed"
    (seed / "images" / "tools").mkdir(parents=True)
    (seed / "images" / "tools" / "Dockerfile").write_text("FROM debian:bookworm-slim\n")
    (seed / "images" / "other").mkdir()
    (seed / "images" / "other" / "Dockerfile").write_text(
        "FROM debian:bookworm-slim\nLABEL purpose=other\n"
    )
    for name, image in (("a", "images/tools"), ("b", "images/other"), ("c", "images/tools")):
        (seed / "experiments" / name).mkdir(parents=True)
        (seed / "experiments" / name / "experiment.yaml").write_text(scenario(name, image))
    (seed / ".gitignore").write_text(".radiops/\n")
    git(seed, "init", "-q", "-b", "main")
    commit_all(seed, "three experiments")
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(origin))
    mine, other = tmp_path / "mine", tmp_path / "other"
    for clone in (mine, other):
        git(tmp_path, "clone", "-q", str(origin), str(clone))
    git(mine, "checkout", "-q", "-b", "pr")
    return origin, mine, other
