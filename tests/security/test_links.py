"""Links committed where the runner writes never carry a write out of the checkout (issue, item 2).

``radiops validate`` names them; the runner walks from the repository root
without following any link, so one that appears after validation is refused
too. Nothing lands outside the repository in either case.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

from runner.gitops.gitinfo import code_info, current_user
from runner.model.errors import InvalidInput
from runner.model.experiment import Experiment
from runner.model.plan import RunPlan, expand
from runner.model.report import LineReporter
from runner.pipeline.experiment_run import RunOptions, run_experiment
from runner.pipeline.recovery import recover
from tests.reproduce.test_reproduce import published
from tests.testing.repos import add_scenario, commit_all, make_run_repo, radiops, shell_scenario
from tests.testing.testbed_fixtures import Testbed

RUN_ID = "20261203T120000Z-1a2b3c4d"


def repo_with_links(tmp_path: Path, *links: str) -> tuple[Path, Path]:
    """A run repository whose ``links`` (relative paths) all lead to an empty folder outside."""
    repo = make_run_repo(tmp_path)
    add_scenario(repo, "hello", shell_scenario("hello", script="echo hi", duration="10s"))
    outside = tmp_path / "outside"
    outside.mkdir()
    for link in links:
        (repo / link).parent.mkdir(parents=True, exist_ok=True)
        (repo / link).symlink_to(outside)
    commit_all(repo, "links where the runner writes")
    return repo, outside


@pytest.mark.parametrize(
    "link",
    [
        "experiments/hello/runs",
        f"experiments/hello/runs/{RUN_ID}",
        ".radiops",
        ".radiops/artifacts",
    ],
)
def test_validate_refuses_a_link_where_the_runner_writes(tmp_path: Path, link: str) -> None:
    repo, outside = repo_with_links(tmp_path, link)
    result = radiops(repo, "validate")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{link}: is a link (to {outside}) where the runner writes" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.docker
def test_radiops_run_writes_nothing_through_a_committed_link(
    testbed: Testbed, tmp_path: Path
) -> None:
    repo, outside = repo_with_links(tmp_path, "experiments/hello/runs", ".radiops")
    result = radiops(repo, "run", "experiments/hello")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "experiments/hello/runs: is a link" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(outside.iterdir()) == []


@pytest.mark.docker
def test_a_link_appearing_after_validation_is_not_followed(
    testbed: Testbed, tmp_path: Path
) -> None:
    repo, outside = repo_with_links(tmp_path)

    def plant_then_plan(experiment: Experiment) -> list[RunPlan]:
        (repo / "experiments/hello/runs").symlink_to(outside)  # validation has passed
        return expand(experiment, {})

    with pytest.raises(InvalidInput) as refused:
        run_experiment(
            Path("experiments/hello"),
            RunOptions(
                provenance=code_info,
                actor=current_user(),
                live_logs=False,
                plans_of=plant_then_plan,
            ),
            cwd=repo,
            reporter=LineReporter(io.StringIO()),
            cancel=threading.Event(),
        )
    assert "experiments/hello/runs: is a link or a file where radiops writes a folder" in str(
        refused.value
    )
    assert list(outside.iterdir()) == []


def test_recovery_neither_writes_nor_deletes_through_a_committed_link(tmp_path: Path) -> None:
    repo, outside = repo_with_links(tmp_path, "experiments/hello/runs")
    run_dir = outside / RUN_ID  # what the link shows as experiments/hello/runs/<id>
    run_dir.mkdir()
    (run_dir / "manifest.json").write_text("{}\n")
    (run_dir / "pending.json").write_text("{}\n")  # a finished run's leftover: recovery deletes it
    _, skipped = recover(repo, [], {}, reporter=LineReporter(io.StringIO()))
    assert [s.run_dir.name for s in skipped] == [RUN_ID]
    assert "experiments/hello/runs: is a link" in skipped[0].reason
    assert sorted(p.name for p in run_dir.iterdir()) == ["manifest.json", "pending.json"]


@pytest.mark.docker
def test_reproduce_writes_nothing_through_a_committed_link(
    testbed: Testbed, tmp_path: Path
) -> None:
    upstream, run_id = published(tmp_path)
    runs = upstream / "experiments/hello/runs"
    outside = tmp_path / "outside"
    runs.rename(outside)
    runs.symlink_to(outside)
    commit_all(upstream, "runs moved out")
    before = sorted(p.name for p in outside.iterdir())
    result = radiops(upstream, "reproduce", "experiments/hello", "--run", run_id)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "experiments/hello/runs: is a link" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in outside.iterdir()) == before
