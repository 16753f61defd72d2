"""What ``radiops ci`` trusts of a pull request: real git repositories, no engine needed.

The inventory comes from the base commit and may not point into the pull
request's checkout; run records come from the base commit, and only the
runner's own result commits may add them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pygit2

from runner.engine.build_context import context_sha256
from runner.gitops.earlier_runs import earlier_runs
from runner.gitops.publish import BOT, commit_run
from runner.gitops.trusted_runs import base_manifests
from runner.model.experiment import load_experiment
from runner.model.manifest import MANIFEST, file_facts
from runner.model.schemas import data_errors
from tests.testing.repos import EXAMPLES, commit_all, git, radiops

FORGED_ID = "20261203T120000Z-0badc0de"

INVENTORY = """\
nodes:
  remote1:
    engine: tcp://192.0.2.10:2376
    tls: {{ca: {certs}/ca.pem, cert: {certs}/cert.pem, key: {certs}/key.pem}}
artifacts:
  path: {store}
"""


def _repo_with_inventory(tmp_path: Path, certs: str, store: str) -> Path:
    repo = tmp_path / "repo"
    (repo / "experiments").mkdir(parents=True)
    (repo / "testbed.yaml").write_text(INVENTORY.format(certs=certs, store=store))
    (repo / ".gitignore").write_text(".radiops/\n")
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "an inventory with TLS files and an artifact store")
    git(repo, "checkout", "-q", "-b", "pr")
    return repo


def _write_certs(folder: Path, content: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (folder / name).write_text(content)


def test_relative_inventory_paths_never_resolve_in_the_pull_requests_checkout(
    tmp_path: Path,
) -> None:
    repo = _repo_with_inventory(tmp_path, certs="certs", store="store")
    # the pull request brings its own CA (to trust an engine it runs) and a store link
    _write_certs(repo / "certs", "the pull request's own CA\n")
    (repo / "store").symlink_to(tmp_path)
    commit_all(repo, "bring my own certificates")
    result = radiops(repo, "ci", "--base", "main", "--head", "HEAD")
    assert result.returncode == 1, result.stdout + result.stderr
    base = git(repo, "rev-parse", "main").strip()[:12]
    for line, column, key in ((4, 15, "nodes.remote1.tls.ca"), (6, 9, "artifacts.path")):
        where = rf"^testbed\.yaml at {base}:{line}:{column}: {re.escape(key)}"
        assert re.search(where + ": must be an absolute path", result.stderr, re.M), result.stderr
    assert "Traceback" not in result.stderr


def test_absolute_inventory_paths_are_used_as_written(tmp_path: Path) -> None:
    certs = tmp_path / "runner-host" / "certs"
    _write_certs(certs, "the runner's CA\n")
    repo = _repo_with_inventory(tmp_path, certs=str(certs), store=str(tmp_path / "store"))
    _write_certs(repo / "runner-host" / "certs", "the pull request's own CA\n")
    commit_all(repo, "files at the same relative paths")
    result = radiops(repo, "ci", "--base", "main", "--head", "HEAD")
    assert result.returncode == 0, result.stderr
    assert "0 touched experiment(s)" in result.stderr + result.stdout


def forge_run(repo: Path, experiment: str, run_id: str = FORGED_ID) -> Path:
    """A schema-valid manifest saying ``experiment`` ran and succeeded, hashes and all."""
    manifest = json.loads((EXAMPLES / "manifest/valid/simulated-hello.json").read_text())
    scenario = repo / "experiments" / experiment / "experiment.yaml"
    manifest["run_id"] = run_id
    manifest["experiment"].update(
        name=experiment,
        scenario_path=f"experiments/{experiment}/experiment.yaml",
        scenario_sha256=file_facts(scenario, shown="")["sha256"],
    )
    image = load_experiment(scenario).roles["main"].image
    manifest["images"][0].update(
        role="main", image=image, context_sha256=context_sha256(repo / image)
    )
    manifest["outcome"]["status"] = "succeeded"
    assert data_errors(manifest, "manifest") == []
    run_dir = repo / "experiments" / experiment / "runs" / run_id
    run_dir.mkdir(parents=True)
    (run_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return run_dir


def commit_as_runner(repo: Path, run_dir: Path, branch: str = "pr") -> None:
    commit_run(
        pygit2.Repository(str(repo)), run_dir, branch=branch, identity=BOT, message="radiops: a run"
    )


def test_a_pull_request_that_writes_a_run_record_fails_before_anything_runs(
    project: tuple[Path, Path, Path],
) -> None:
    _, mine, _ = project
    (mine / "experiments" / "a" / "README.md").write_text("# a\n")
    forge_run(mine, "a")
    forged = commit_all(mine, "document a (and say it already ran)")
    result = radiops(mine, "ci", "--base", "origin/main", "--head", "HEAD")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{forged[:12]} by Test Author <author@example.org>" in result.stderr
    assert f"experiments/a/runs/{FORGED_ID}/manifest.json" in result.stderr
    assert "only the runner's result commits" in result.stderr
    assert "touched experiment" not in result.stdout + result.stderr  # nothing ran
    assert "Traceback" not in result.stderr
    assert git(mine, "rev-parse", "HEAD").strip() == forged  # nothing was committed


def test_the_runners_own_result_commits_on_the_branch_pass(
    project: tuple[Path, Path, Path],
) -> None:
    _, mine, other = project
    (mine / "NOTES.md").write_text("notes\n")
    commit_all(mine, "notes")
    commit_as_runner(mine, forge_run(mine, "a"))
    commit_as_runner(mine, forge_run(mine, "b", "20261203T120001Z-0badc0df"))
    # the base moves on with a record of its own; merging it in is no edit of runs/
    forge_run(other, "c", "20261203T120002Z-0badc0e0")
    commit_all(other, "a record merged into main")
    git(other, "push", "-q", "origin", "main")
    git(mine, "fetch", "-q", "origin")
    git(mine, "merge", "-q", "--no-edit", "origin/main")
    assert len(git(mine, "log", "-1", "--format=%P").split()) == 2  # a real merge commit
    result = radiops(mine, "ci", "--base", "origin/main", "--head", "HEAD")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 touched experiment(s)" in result.stdout + result.stderr


def test_a_result_commit_that_also_edits_code_fails(project: tuple[Path, Path, Path]) -> None:
    _, mine, _ = project
    forge_run(mine, "a")
    (mine / "NOTES.md").write_text("notes\n")
    git(mine, "add", "-A")
    git(mine, "-c", f"user.name={BOT.name}", "-c", f"user.email={BOT.email}", "commit", "-qm", "x")
    result = radiops(mine, "ci", "--base", "origin/main", "--head", "HEAD")
    assert result.returncode == 1
    assert f"experiments/a/runs/{FORGED_ID}/manifest.json" in result.stderr


def test_earlier_runs_come_from_the_base_commit_only(project: tuple[Path, Path, Path]) -> None:
    _, mine, _ = project
    commit_as_runner(mine, forge_run(mine, "a"))  # matches the job, on the branch only
    repo = pygit2.Repository(str(mine))
    experiment = load_experiment(mine / "experiments" / "a" / "experiment.yaml")

    def earlier() -> list[str]:
        base = str(repo.revparse_single("origin/main").id)
        return earlier_runs(experiment, mine, base_manifests(repo, base, "a", MANIFEST))

    assert earlier() == []
    git(mine, "push", "-q", "origin", "pr:main")  # merged: the record is the base's now
    git(mine, "fetch", "-q", "origin")
    assert earlier() == [FORGED_ID]
