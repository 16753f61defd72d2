"""Running an experiment in-process from a test, and reading what it recorded."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import docker

from runner.gitops.gitinfo import code_info, current_user
from runner.model.report import LineReporter
from runner.pipeline.context import RunResult
from runner.pipeline.experiment_run import RunOptions, run_experiment

WAIT_S = 900.0  # other tests may hold the node for a while


def run_here(repo: Path, experiment: str, **options: Any) -> tuple[list[RunResult], str]:
    log = io.StringIO()
    results = run_experiment(
        Path("experiments") / experiment,
        RunOptions(provenance=code_info, actor=current_user(), **options),
        cwd=repo,
        reporter=LineReporter(log),
        cancel=threading.Event(),
    )
    return results, log.getvalue()


def manifest(result: RunResult) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((result.run_dir / "manifest.json").read_text())
    return data


def run_on(repo: Path, experiment: str, **options: Any) -> RunResult:
    (result,) = run_experiment(
        Path("experiments") / experiment,
        RunOptions(
            provenance=code_info, actor=current_user(), live_logs=False, wait_s=WAIT_S, **options
        ),
        cwd=repo,
        reporter=LineReporter(io.StringIO()),
        cancel=threading.Event(),
    )
    return result


def inspect_while_running(
    client: docker.DockerClient, repo: Path, experiment: str, **options: Any
) -> tuple[dict[str, Any], RunResult]:
    """``docker inspect`` of the run's container while it runs, and the run's result."""
    results: list[RunResult] = []
    errors: list[BaseException] = []

    def go() -> None:
        try:
            results.append(run_on(repo, experiment, **options))
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    runner = threading.Thread(target=go)
    runner.start()
    attrs: dict[str, Any] | None = None
    deadline = time.monotonic() + WAIT_S
    while attrs is None and runner.is_alive() and time.monotonic() < deadline:
        for container in client.containers.list(
            filters={"label": f"org.radiops.experiment={experiment}", "status": "running"}
        ):
            assert container.id is not None  # a listed container has one
            attrs = client.api.inspect_container(container.id)
        time.sleep(0.2)
    runner.join(WAIT_S)
    if errors:
        raise errors[0]
    assert attrs is not None, "the run's container was never seen running"
    return attrs, results[0]
