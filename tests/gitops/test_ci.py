"""``radiops ci`` with real git repositories (a bare origin, a clone, a branch as the pull
request) and the real local engine: only what a change touches runs, and is recorded."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

from runner.gitops.ci_job import CiReport, ci
from runner.model.report import LineReporter
from tests.testing.gitops import scenario
from tests.testing.repos import commit_all, git
from tests.testing.testbed_fixtures import Testbed

pytestmark = pytest.mark.docker


class PushDuringRun:
    """A reporter that, when a run starts, pushes someone else's commit to the branch."""

    def __init__(self, other: Path, branch: str) -> None:
        self.other, self.branch = other, branch
        self.pushed = False
        self.log = io.StringIO()
        self.lines = LineReporter(self.log)

    def line(self, text: str) -> None:
        self.lines.line(text)
        if "running on" in text and not self.pushed:
            self.pushed = True
            git(self.other, "fetch", "-q", "origin")
            git(self.other, "checkout", "-q", "-B", self.branch, f"origin/{self.branch}")
            (self.other / "REVIEW.md").write_text("a reviewer's note, pushed during the run\n")
            commit_all(self.other, "review note")
            git(self.other, "push", "-q", "origin", self.branch)


def run_ci(repo: Path, reporter: object | None = None, **options: object) -> CiReport:
    head = git(repo, "rev-parse", "HEAD").strip()
    return ci(
        cwd=repo,
        base="origin/main",
        head=head,
        reporter=reporter or LineReporter(io.StringIO()),  # type: ignore[arg-type]
        cancel=threading.Event(),
        **options,  # type: ignore[arg-type]
    )


def runs_on(origin: Path, branch: str) -> set[str]:
    paths = git(origin, "ls-tree", "-r", "--name-only", branch).split()
    return {p.split("/")[1] for p in paths if "/runs/" in p and p.endswith("manifest.json")}


def test_only_the_touched_experiment_runs_and_is_pushed(
    testbed: Testbed, project: tuple[Path, Path, Path]
) -> None:
    origin, mine, _ = project
    (mine / "experiments" / "a" / "README.md").write_text("# a\n")
    commit_all(mine, "document a")
    git(mine, "push", "-q", "origin", "pr")
    report = run_ci(mine, publish=True)
    assert [row.experiment for row in report.rows] == ["a"]
    assert report.succeeded and report.pushed
    assert runs_on(origin, "pr") == {"a"}
    subject = git(origin, "log", "-1", "--format=%an|%s", "pr").strip()
    assert subject.startswith("radiops|radiops: a run ") and subject.endswith(" succeeded")
    assert "| `a` |" in report.summary and report.rows[0].result.run_id in report.summary
    # the runner's result commit on the branch does not fail the job, nor does it count
    # as an earlier run: only the base's records do (runner/gitops/trusted_runs.py)
    again = run_ci(mine)
    assert [row.experiment for row in again.rows] == ["a"] and again.skipped == ()
    # once merged, the base holds the record: the same job does not run twice
    git(mine, "push", "-q", "origin", "pr:main")
    git(mine, "fetch", "-q", "origin")
    (mine / "experiments" / "a" / "NOTES.md").write_text("more about a\n")
    commit_all(mine, "more notes on a")
    merged = run_ci(mine)
    assert merged.rows == () and merged.skipped[0][0] == "a"
    assert "already ran" in merged.summary
    assert len(run_ci(mine, rerun=True).rows) == 1


def test_an_image_edit_reruns_exactly_its_experiments_and_deletions_do_not_run(
    testbed: Testbed, project: tuple[Path, Path, Path]
) -> None:
    _, mine, _ = project
    dockerfile = mine / "images" / "tools" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "LABEL edited=yes\n")
    git(mine, "rm", "-q", "-r", "experiments/b")
    commit_all(mine, "edit tools, drop b")
    report = run_ci(mine)
    assert sorted(row.experiment for row in report.rows) == ["a", "c"]
    assert {c.experiment: c.kind for c in report.changes}["b"] == "deleted"
    assert "`b` was deleted: not run" in report.summary


def test_a_push_during_the_run_loses_neither_commit(
    testbed: Testbed, project: tuple[Path, Path, Path]
) -> None:
    origin, mine, other = project
    (mine / "experiments" / "c" / "README.md").write_text("# c\n")
    commit_all(mine, "document c")
    git(mine, "push", "-q", "origin", "pr")
    reporter = PushDuringRun(other, "pr")
    report = run_ci(mine, reporter, publish=True)
    assert reporter.pushed and report.pushed
    files = git(origin, "ls-tree", "-r", "--name-only", "pr").split()
    assert "REVIEW.md" in files
    assert runs_on(origin, "pr") == {"c"}
    assert "moved on the remote" in reporter.log.getvalue()


def test_a_failing_experiment_fails_the_job_after_everything_is_recorded(
    testbed: Testbed, project: tuple[Path, Path, Path]
) -> None:
    origin, mine, _ = project
    (mine / "experiments" / "a" / "experiment.yaml").write_text(
        scenario("a", "images/tools", "exit 4")
    )
    (mine / "experiments" / "c" / "README.md").write_text("# c\n")
    commit_all(mine, "break a, document c")
    git(mine, "push", "-q", "origin", "pr")
    report = run_ci(mine, publish=True)
    assert not report.succeeded
    assert {row.experiment: row.result.status for row in report.rows} == {
        "a": "failed",
        "c": "succeeded",
    }
    assert runs_on(origin, "pr") == {"a", "c"}
    assert "exited with code 4" in report.summary


def test_ci_refuses_a_work_tree_that_is_not_at_head(project: tuple[Path, Path, Path]) -> None:
    from runner.model.errors import UsageError

    _, mine, _ = project
    (mine / "experiments" / "a" / "README.md").write_text("# a\n")
    commit_all(mine, "one commit past the head we will name")
    with pytest.raises(UsageError, match="check out the head commit first"):
        ci(
            cwd=mine,
            base="origin/main",
            head="HEAD~1",
            reporter=LineReporter(io.StringIO()),
            cancel=threading.Event(),
        )


def test_the_inventory_comes_from_the_base_not_from_the_pull_request(
    testbed: Testbed, project: tuple[Path, Path, Path]
) -> None:
    _, mine, _ = project
    # the pull request tries to grant its containers the host network and a capability
    (mine / "testbed.yaml").write_text(
        "nodes:\n  evil:\n    engine: unix:///var/run/docker.sock\n"
        "    network: host\n    capabilities: [SYS_ADMIN]\n"
    )
    (mine / "experiments" / "a" / "README.md").write_text("# a\n")
    commit_all(mine, "grant myself more")
    report = run_ci(mine)
    (row,) = report.rows
    assert row.result.nodes[0].startswith("local")  # the base has no testbed.yaml
    manifest = (row.result.run_dir / "manifest.json").read_text()
    assert '"testbed": "the local default testbed"' in manifest
    assert "evil" not in manifest


def test_the_comment_says_which_node_a_waiting_run_waits_for(
    testbed: Testbed, project: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    import docker

    _, mine, _ = project
    (mine / "experiments" / "a" / "README.md").write_text("# a\n")
    commit_all(mine, "document a")
    inventory = tmp_path / "solo.yaml"
    inventory.write_text(f"nodes:\n  solo:\n    engine: {testbed.default_engine}\n")
    client = docker.DockerClient(base_url=testbed.default_engine, version="auto")
    # another runner's reservation of the only node, released two seconds later
    held = client.containers.create("debian:bookworm-slim", name="radiops-node-solo")
    release = threading.Timer(2.0, lambda: held.remove(force=True))
    release.start()
    bodies: list[str] = []
    try:
        report = run_ci(mine, testbed_file=inventory, comment=bodies.append)
    finally:
        release.join()
        client.close()
    assert report.succeeded and report.rows[0].result.nodes == ("solo",)
    assert bodies[0].startswith("### radiops: running 1 experiment(s)")
    assert any("⏳ a is waiting for node solo (held by another run)" in b for b in bodies)
    assert bodies[-1] == report.summary and "| `a` |" in bodies[-1]
