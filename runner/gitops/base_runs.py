"""The base branch's runs of an experiment, read from git, and the new runs judged against them.

Only the base commit's objects are read (never the work tree, which is the pull
request's). A record there is still text someone committed: each manifest is read
up to MAX_MANIFEST_BYTES, must be JSON without NaN or Infinity, and must match
schemas/manifest.schema.json; what does not is left out and counted. The
tolerances are the base's scenario's where it has them (:func:`compare_new_runs`).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2

from runner.model.experiment import SCENARIO_FILE, Tolerance, read_experiment
from runner.model.manifest import MANIFEST
from runner.model.regression import PointComparison, compare_runs
from runner.model.repo import EXPERIMENTS, RUNS
from runner.model.schemas import data_errors

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_SCENARIO_BYTES = 1024 * 1024
MAX_BASE_RUNS = 200  # the latest ones of an experiment; older runs are not read


@dataclass(frozen=True, kw_only=True)
class BaseRuns:
    manifests: tuple[Mapping[str, Any], ...]  # checked, oldest first
    refused: tuple[str, ...]  # run ids whose record was left out, and why


def read_base_runs(repo: pygit2.Repository, base: str, experiment: str) -> BaseRuns:
    """The latest MAX_BASE_RUNS run records of ``experiment`` in the tree of commit ``base``."""
    tree = repo[base].peel(pygit2.Commit).tree
    try:
        runs = tree[f"{EXPERIMENTS}/{experiment}/{RUNS}"]
    except KeyError:
        return BaseRuns(manifests=(), refused=())
    if not isinstance(runs, pygit2.Tree):
        return BaseRuns(manifests=(), refused=())
    entries = sorted((e for e in runs if isinstance(e, pygit2.Tree)), key=lambda e: e.name or "")
    manifests: list[Mapping[str, Any]] = []
    refused: list[str] = []
    for entry in entries[-MAX_BASE_RUNS:]:
        if MANIFEST not in entry:
            continue
        data, why = _checked(entry[MANIFEST], experiment)
        if data is None:
            refused.append(f"{entry.name}: {why}")
        else:
            manifests.append(data)
    return BaseRuns(manifests=tuple(manifests), refused=tuple(refused))


def _checked(blob: pygit2.Object, experiment: str) -> tuple[dict[str, Any] | None, str]:
    if not isinstance(blob, pygit2.Blob):
        return None, f"{MANIFEST} is not a file"
    if blob.size > MAX_MANIFEST_BYTES:
        return None, f"{MANIFEST} is over {MAX_MANIFEST_BYTES} bytes"
    try:
        data = json.loads(blob.data, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError):
        return None, f"{MANIFEST} is not JSON"
    problems = data_errors(data, "manifest")
    if problems:
        return None, f"{MANIFEST} does not match the schema ({problems[0]})"
    if data["experiment"]["name"] != experiment:
        return None, f"{MANIFEST} is a run of another experiment"
    return data, ""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def base_tolerances(repo: pygit2.Repository, base: str, experiment: str) -> dict[str, Tolerance]:
    """``reproduce.metrics`` as the base commit's scenario has them; empty when it has
    none, or no valid scenario."""
    tree = repo[base].peel(pygit2.Commit).tree
    try:
        blob = tree[f"{EXPERIMENTS}/{experiment}/{SCENARIO_FILE}"]
    except KeyError:
        return {}
    if not isinstance(blob, pygit2.Blob) or blob.size > MAX_SCENARIO_BYTES:
        return {}
    with tempfile.TemporaryDirectory(prefix="radiops-base-scenario-") as folder:
        copy = Path(folder) / SCENARIO_FILE
        copy.write_bytes(blob.data)
        _, scenario, _ = read_experiment(copy, display=f"{experiment} at {base[:12]}")
    return dict(scenario.metric_tolerances) if scenario is not None else {}


def compare_new_runs(
    repo: pygit2.Repository,
    base: str,
    new_runs: Sequence[tuple[str, Path]],
    tolerances: Mapping[str, Mapping[str, Tolerance]],
) -> tuple[list[PointComparison], list[str]]:
    """Each new run (experiment, run directory) against the base's runs of its point.

    ``tolerances``: the scenarios' as the change has them. A metric the base's scenario
    has a tolerance for is judged by that one: a change cannot loosen its own yardstick.
    Returns the comparisons, in the order given, and a note per base record left out.
    """
    cache: dict[str, tuple[BaseRuns, dict[str, Tolerance]]] = {}
    news: dict[str, list[dict[str, Any]]] = {}
    for experiment, run_dir in new_runs:
        path = run_dir / MANIFEST
        if not path.is_file():
            continue
        # the runner's own record
        news.setdefault(experiment, []).append(json.loads(path.read_text(encoding="utf-8")))
        if experiment not in cache:
            yardstick = {
                **tolerances.get(experiment, {}),
                **base_tolerances(repo, base, experiment),
            }
            cache[experiment] = (read_base_runs(repo, base, experiment), yardstick)
    comparisons = []
    for experiment, manifests in news.items():
        found, yardstick = cache[experiment]
        # repeated runs of a point are pooled: a group is judged by its mean
        comparisons += compare_runs(manifests, found.manifests, yardstick)
    notes = [
        f"{experiment}: base record {why}; left out"
        for experiment, (found, _) in cache.items()
        for why in found.refused
    ]
    return comparisons, notes
