"""``radiops reproduce EXPERIMENT --run RUN_ID``: re-run a published run and judge it.

It works from the commit the manifest records, never from the working tree:
the experiment and the images at that commit are exported to a scratch
directory and run from there (it says so when the working tree differs). The
re-run uses the recorded parameters, matrix point and seeds on the given
testbed (default: the local simulated one), and lands beside the original
under ``runs/`` with ``reproduction.md`` and ``reproduction.json``.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.capture import ArtifactStore
from runner.commands.run import run
from runner.errors import InvalidInput, UsageError
from runner.experiment import SCENARIO_FILE, Experiment, load_experiment
from runner.files import write_atomic
from runner.gitinfo import commit_info, export_tree
from runner.manifest import MANIFEST, Trigger, file_facts, read_manifest
from runner.outputs import output_reader
from runner.plan import RunPlan
from runner.repo import find_repository
from runner.report import Reporter
from runner.reproduce import Check, compare_runs, report_json, report_markdown, reproduced
from runner.testbed import Artifacts, Testbed, local_default, read_testbed

RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")


@dataclass(frozen=True, kw_only=True)
class Reproduction:
    reproduced: bool
    checks: tuple[Check, ...]
    run_dir: Path


def reproduce(
    target: str,
    run_id: str,
    *,
    cwd: Path,
    testbed_file: Path | None,
    reporter: Reporter,
    cancel: threading.Event,
) -> Reproduction:
    repo = find_repository(cwd)
    name = Path(target).name
    experiment_dir = repo.root / "experiments" / name
    if not (experiment_dir / SCENARIO_FILE).is_file():
        raise UsageError(
            f"{target}: no experiment here; give its directory, e.g. experiments/hello"
        )
    if not RUN_ID.match(run_id):
        raise UsageError(f"--run {run_id}: not a run id such as 20261121T233100Z-1a2b3c4d")
    manifest_path = experiment_dir / "runs" / run_id / MANIFEST
    if not manifest_path.is_file():
        raise UsageError(f"{name} has no run {run_id} ({manifest_path} does not exist)")
    _, recorded, problems = read_manifest(manifest_path)
    if recorded is None:
        raise InvalidInput(
            f"{manifest_path}: not a valid manifest: " + "; ".join(str(p) for p in problems[:5])
        )
    commit = recorded["code"]["commit"]
    if commit is None:
        raise InvalidInput(
            f"run {run_id} records no commit (it ran outside git): nothing to reproduce it from"
        )
    say = reporter.line
    if recorded["code"]["dirty"]:
        say(f"note: run {run_id} was made from a working tree with uncommitted changes")
    inventory, shown = (
        (local_default(), "the local default testbed")
        if testbed_file is None
        else _testbed(testbed_file, cwd)
    )
    if inventory.artifacts is None:  # the store of this repository, not of the scratch copy
        default = Artifacts(path=repo.root / ".radiops" / "artifacts")
        inventory = dataclasses.replace(inventory, artifacts=default)
    assert inventory.artifacts is not None
    store = ArtifactStore(inventory.artifacts.path)
    with tempfile.TemporaryDirectory(prefix="radiops-reproduce-") as scratch:
        source = Path(scratch)
        (source / "experiments").mkdir()
        export_tree(repo.root, commit, [f"experiments/{name}/", "images/"], source)
        runs = source / "experiments" / name / "runs"
        if runs.exists():
            shutil.rmtree(runs)  # results are not code
        changed = _differs(repo.root, source, name)
        if changed:
            say(
                f"note: your working tree differs from commit {commit[:12]} in: "
                + ", ".join(changed)
                + f"; reproducing from {commit[:12]}"
            )
        scenario = source / "experiments" / name / SCENARIO_FILE
        scenario_check = _scenario_check(scenario, recorded)
        results = run(
            scenario,
            cwd=source,
            reporter=reporter,
            cancel=cancel,
            testbed=(inventory, shown),
            trigger=Trigger(kind="reproduce"),
            plans_of=lambda experiment: [_plan(experiment, recorded)],
            code=commit_info(repo.root, commit),
        )
        (result,) = results
        new_dir = experiment_dir / "runs" / result.run_id
        shutil.move(str(result.run_dir), str(new_dir))
    _, new, new_problems = read_manifest(new_dir / MANIFEST)
    if new is None:
        raise InvalidInput(f"the re-run's manifest is not valid: {new_problems[:3]}")
    experiment = load_experiment(experiment_dir / SCENARIO_FILE if not scenario_check else scenario)
    checks = [
        scenario_check
        or Check(
            name="scenario",
            expected=recorded["experiment"]["scenario_sha256"],
            got=recorded["experiment"]["scenario_sha256"],
            verdict="pass",
        ),
        *compare_runs(
            experiment,
            recorded,
            new,
            recorded_bytes=output_reader(manifest_path.parent, store),
            new_bytes=output_reader(new_dir, store),
        ),
    ]
    summary: dict[str, Any] = {
        "experiment": name,
        "recorded_run": run_id,
        "new_run": result.run_id,
        "commit": commit,
        "testbed": shown,
    }
    write_atomic(new_dir / "reproduction.json", report_json(checks, summary))
    write_atomic(new_dir / "reproduction.md", report_markdown(checks, summary))
    return Reproduction(reproduced=reproduced(checks), checks=tuple(checks), run_dir=new_dir)


def _plan(experiment: Experiment, recorded: Mapping[str, Any]) -> RunPlan:
    return RunPlan(
        experiment=experiment,
        matrix_point=dict(recorded["experiment"]["matrix_point"]),
        parameters=dict(recorded["parameters"]),
        overrides={},
        seeds=dict(recorded["seeds"]),
    )


def _scenario_check(scenario: Path, recorded: Mapping[str, Any]) -> Check | None:
    """A failed check when the scenario at the commit is not the one the run used."""
    expected = recorded["experiment"]["scenario_sha256"]
    got = file_facts(scenario, shown="")["sha256"]
    if got == expected:
        return None
    return Check(name="scenario", expected=expected, got=got, verdict="fail")


def _differs(root: Path, exported: Path, name: str) -> list[str]:
    """Files of the experiment and images that differ between the checkout and the export."""
    changed = []
    for base in (f"experiments/{name}", "images"):
        here = {p.relative_to(root).as_posix() for p in (root / base).rglob("*") if p.is_file()}
        there = {
            p.relative_to(exported).as_posix() for p in (exported / base).rglob("*") if p.is_file()
        }
        for path in sorted(here | there):
            if "/runs/" in path:
                continue
            a, b = root / path, exported / path
            if not (a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes()):
                changed.append(path)
    return changed[:10]


def _testbed(path: Path, cwd: Path) -> tuple[Testbed, str]:
    full = path if path.is_absolute() else cwd / path
    if not full.is_file():
        raise UsageError(f"--testbed {path}: no such file")
    _, testbed, problems = read_testbed(full, display=str(path))
    if testbed is None:
        raise InvalidInput("; ".join(str(p) for p in problems[:5]))
    return testbed, str(path)
