"""``radiops ci`` flags metrics a pull request moved, against the base branch's committed run.

Real git (a bare origin, a clone, branches as pull requests), the real hello image
on the local engine: its metrics ``lines`` and ``bytes`` follow its parameters.
"""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path

import pytest

from runner.gitops.ci_job import CiReport, ci
from runner.model.report import LineReporter
from tests.testing.repos import commit_all, copy_from_project, git
from tests.testing.testbed_fixtures import Testbed

pytestmark = pytest.mark.docker

TOLERANCES = """reproduce:
  metrics:
    lines: {absolute: 0}
    bytes: {relative: 0.3, better: lower}
"""


def hello_scenario(repo: Path, *, greeting: str = "hello", repeat: int = 3) -> None:
    path = repo / "experiments" / "hello" / "experiment.yaml"
    text = path.read_text(encoding="utf-8")
    head, _, _ = text.partition("reproduce:")
    head = re.sub(r"(greeting:\n\s+type: string\n\s+default: ).*", rf"\g<1>{greeting}", head)
    head = re.sub(r"(repeat:\n\s+type: integer\n\s+default: ).*", rf"\g<1>{repeat}", head)
    assert f"default: {greeting}\n" in head and f"default: {repeat}\n" in head
    path.write_text(head + TOLERANCES, encoding="utf-8")


@pytest.fixture
def hello_project(tmp_path: Path) -> tuple[Path, Path]:
    """(origin, my clone) with experiments/hello and images/hello on main, no runs yet."""
    seed = tmp_path / "seed"
    copy_from_project("experiments/hello", seed / "experiments" / "hello")
    copy_from_project("images/hello", seed / "images" / "hello")
    hello_scenario(seed)
    (seed / ".gitignore").write_text(".radiops/\n")
    git(seed, "init", "-q", "-b", "main")
    commit_all(seed, "hello")
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(origin))
    mine = tmp_path / "mine"
    git(tmp_path, "clone", "-q", str(origin), str(mine))
    return origin, mine


def run_ci(repo: Path, comments: list[str], **options: object) -> CiReport:
    return ci(
        cwd=repo,
        base="origin/main",
        head=git(repo, "rev-parse", "HEAD").strip(),
        reporter=LineReporter(io.StringIO()),
        cancel=threading.Event(),
        comment=comments.append,
        **options,  # type: ignore[arg-type]
    )


def pull_request(mine: Path, branch: str, **defaults: object) -> None:
    git(mine, "fetch", "-q", "origin")
    git(mine, "checkout", "-q", "-B", branch, "origin/main")
    hello_scenario(mine, **defaults)  # type: ignore[arg-type]
    commit_all(mine, f"hello: {defaults}")


def test_a_pull_request_that_worsens_a_metric_is_marked(
    testbed: Testbed, hello_project: tuple[Path, Path]
) -> None:
    _, mine = hello_project
    # the base's run: a first pull request touching hello, recorded and merged
    pull_request(mine, "first", greeting="hello!")
    first = run_ci(mine, [], publish=True)
    assert first.succeeded and len(first.rows) == 1
    assert "no earlier run on origin/main" in first.summary
    git(mine, "push", "-q", "origin", "first:main")
    base_run = first.rows[0].result.run_id

    # twice the lines: lines is beyond ±0, bytes (lower is better) beyond ±30%
    pull_request(mine, "worse", greeting="hello!", repeat=6)
    comments: list[str] = []
    worse = run_ci(mine, comments)
    assert worse.succeeded
    summary = worse.summary
    assert f"against run {base_run}" in summary
    assert "parameters changed: repeat: 3 → 6" in summary
    assert "| lines | 3 | 6 | \\+3 \\(\\+100%\\) | ⚠ beyond tolerance (±0) |" in summary
    assert (
        "| bytes | 48 | 96 | \\+48 \\(\\+100%\\) | "
        "⚠ regression: beyond tolerance (±30%), lower is better |" in summary
    )
    assert "2 metric change(s) beyond tolerance" in summary
    assert comments[-1] == summary  # the pull request's comment says the same

    # one more character a line (+6%): within ±30%, lines unchanged: nothing marked
    pull_request(mine, "fine", greeting="hello!!")
    comments = []
    fine = run_ci(mine, comments)
    assert fine.succeeded
    assert "| lines | 3 | 3 | \\+0 \\(\\+0%\\) | ✓ within tolerance (±0) |" in fine.summary
    assert "| bytes | 48 | 51 | \\+3 \\(\\+6.25%\\) | ✓ within tolerance (±30%) |" in fine.summary
    assert "⚠" not in fine.summary and "beyond" not in fine.summary
    assert comments[-1] == fine.summary
