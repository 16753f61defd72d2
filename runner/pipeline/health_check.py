"""``radiops testbed check``: run each node's health check, all nodes at once, and record it.

A check is the radio probe (compared with testbed.yaml) and, when the node declares one, a
short experiment on that node alone judged on its metrics. The result goes into the node's
health state on its engine (``engine/health_store``), which quarantines or restores it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from runner.engine.engines import ENGINE_ERRORS, EngineClient
from runner.engine.health_store import update_health
from runner.model.errors import FatalError
from runner.model.health import (
    CheckResult,
    HealthExperiment,
    HealthState,
    after_check,
    judge_metrics,
)
from runner.model.manifest import MANIFEST
from runner.model.repo import Repository
from runner.model.report import Reporter
from runner.model.testbed import Node, Testbed
from runner.pipeline.experiment_run import RunOptions, run_experiment
from runner.pipeline.probing import probe_nodes


@dataclass(frozen=True, kw_only=True)
class Checked:
    node: str
    result: CheckResult
    state: HealthState


def check_nodes(
    repo: Repository,
    testbed: tuple[Testbed, str],
    nodes: Sequence[Node],
    clients: Mapping[str, EngineClient],
    options: RunOptions,
    *,
    reporter: Reporter,
) -> list[Checked]:
    """Check every node in ``nodes`` in parallel; record each result on the node's engine."""

    def one(node: Node) -> Checked:
        reason = _failure(repo, testbed, node, clients, options, reporter)
        at = datetime.now(UTC).isoformat(timespec="seconds")
        result = CheckResult(at=at, ok=reason is None, reason=reason or _passed(node))
        limit = node.health.quarantine_after
        state = update_health(
            clients[node.engine], node.name, lambda old: after_check(old, result, limit)
        )
        return Checked(node=node.name, result=result, state=state)

    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        return list(pool.map(one, nodes))


def _passed(node: Node) -> str:
    parts = ["radio probe"] if node.health.probe else []
    if node.health.experiment is not None:
        parts.append(f"experiment {node.health.experiment.path}")
    return "passed: " + (", ".join(parts) or "engine reachable")


def _failure(
    repo: Repository,
    testbed: tuple[Testbed, str],
    node: Node,
    clients: Mapping[str, EngineClient],
    options: RunOptions,
    reporter: Reporter,
) -> str | None:
    """Why ``node`` fails its check, or None when it passes."""
    try:
        clients[node.engine].ping()
        if node.health.probe:
            (probed,) = probe_nodes(
                repo, testbed[0], [node], clients, max_age_s=0, progress=reporter.line
            )
            if probed.problems:
                return "radio probe: " + "; ".join(probed.problems)
        if node.health.experiment is not None:
            return _experiment_failure(
                repo, testbed, node, node.health.experiment, options, reporter
            )
    except (FatalError, *ENGINE_ERRORS, OSError) as exc:
        return f"{type(exc).__name__}: {exc}" if not isinstance(exc, FatalError) else str(exc)
    return None


def _experiment_failure(
    repo: Repository,
    testbed: tuple[Testbed, str],
    node: Node,
    declared: HealthExperiment,
    options: RunOptions,
    reporter: Reporter,
) -> str | None:
    run_options = RunOptions(
        provenance=options.provenance,
        actor=options.actor,
        sets=tuple(f"{k}={v}" for k, v in declared.parameters.items()),
        testbed=testbed,
        node_names=(node.name,),
        live_logs=False,
        wait_s=options.wait_s,
        ignore_quarantine=True,
    )
    results = run_experiment(
        repo.root / declared.path,
        run_options,
        cwd=repo.root,
        reporter=reporter,
        cancel=threading.Event(),
    )
    failures = []
    for result in results:
        if result.status != "succeeded":
            failures.append(f"run {result.run_id} {result.status}: {result.reason}")
            continue
        failures += judge_metrics(_metrics(result.run_dir), declared.metrics)
    return f"experiment {declared.path}: " + "; ".join(failures) if failures else None


def _metrics(run_dir: Path) -> dict[str, float]:
    manifest = json.loads((run_dir / MANIFEST).read_text())
    return {str(k): float(v) for k, v in (manifest.get("metrics") or {}).items()}
