"""Re-run a published run and judge it; archive a run as a bundle.

From a repository (``EXPERIMENT --run RUN_ID``) it works from the commit the
manifest records, never from the working tree: the experiment and the images
at that commit are exported to a scratch directory and run from there (it
says so when the working tree differs); the re-run lands beside the original
under ``runs/``. From a bundle (``--bundle FILE``) everything comes from the
archive: images are loaded into the testbed's engines, no registry and no git
are needed, and the re-run lands in ``reproductions/<experiment>/``.

Either way the re-run uses the recorded parameters, matrix point and seeds on
the given testbed (default: the local simulated one), and ``reproduction.md``
and ``reproduction.json`` are written beside it. A run that is one of a
repeated group (``repetition`` in its manifest) is re-run once per recorded
run of the group and judged on the distributions (runner/reproduce/group.py).
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.engine.artifacts import ArtifactStore
from runner.engine.engines import connect, connect_all
from runner.engine.images import local_reference
from runner.engine.registry import pull_pinned, registry_problem
from runner.gitops.gitinfo import commit_info, current_user, export_tree
from runner.model.errors import EnvironmentProblem, InvalidInput, UsageError
from runner.model.experiment import SCENARIO_FILE, Experiment, load_experiment
from runner.model.files import LinkInTheWay, write_atomic
from runner.model.manifest import MANIFEST, CodeInfo, Trigger, file_facts, read_manifest
from runner.model.plan import RunPlan, new_run_id
from runner.model.problems import listed
from runner.model.repo import EXPERIMENTS, RUNS, find_repository, links_where_written
from runner.model.report import Reporter
from runner.model.testbed import Testbed, local_default
from runner.pipeline.experiment_run import RunOptions, run_experiment
from runner.pipeline.outputs import output_reader
from runner.reproduce.bundle import loaded_images, unpack, write_bundle
from runner.reproduce.compare import Check, compare_runs, report_json, report_markdown, reproduced
from runner.reproduce.group import LEVEL as GROUP_LEVEL
from runner.reproduce.group import TEST as GROUP_TEST
from runner.reproduce.group import group_checks, group_plans, recorded_group
from runner.reproduce.inventories import inventory_checks
from runner.reproduce.published import RUN_ID, published_run, reproduction_testbed, store_of


@dataclass(frozen=True, kw_only=True)
class Reproduction:
    reproduced: bool
    checks: tuple[Check, ...]
    run_dir: Path


@dataclass(frozen=True, kw_only=True)
class _Source:
    """Where a reproduction takes the run from."""

    name: str
    root: Path  # a directory with experiments/<name>/ and images/ at the recorded commit
    recorded: Mapping[str, Any]
    recorded_dir: Path
    recorded_store: ArtifactStore
    code: CodeInfo
    runs: Path  # where the re-run goes
    members: tuple[tuple[Path, Mapping[str, Any]], ...] = ()  # a repeated run's group


def reproduce(
    target: str,
    run_id: str,
    *,
    cwd: Path,
    testbed_file: Path | None,
    reporter: Reporter,
    cancel: threading.Event,
) -> Reproduction:
    """Reproduce run ``run_id`` of experiment ``target`` of the repository at ``cwd``."""
    repo = find_repository(cwd)
    run_dir, recorded = published_run(repo.root, target, run_id)
    links = links_where_written(repo, run_dir.parent.parent)  # the re-run goes beside it
    if links:
        raise LinkInTheWay(links[0])
    commit = recorded["code"]["commit"]
    name = recorded["experiment"]["name"]
    if recorded["code"]["dirty"]:
        reporter.line(f"note: run {run_id} was made from a working tree with uncommitted changes")
    inventory, shown = reproduction_testbed(testbed_file, cwd, default_store=repo.root)
    inventory = _obtain_recorded_images(recorded, inventory, reporter)
    with tempfile.TemporaryDirectory(prefix="radiops-reproduce-") as scratch:
        root = Path(scratch)
        export_tree(repo.root, commit, [f"experiments/{name}/", "images/"], root)
        changed = _differs(repo.root, root, name)
        if changed:
            reporter.line(
                f"note: your working tree differs from commit {commit[:12]} in: "
                + ", ".join(changed)
                + f"; reproducing from {commit[:12]}"
            )
        source = _Source(
            name=name,
            root=root,
            recorded=recorded,
            recorded_dir=run_dir,
            recorded_store=store_of(inventory),
            code=commit_info(repo.root, commit),
            runs=run_dir.parent,
            members=recorded_group(run_dir, recorded, reporter),
        )
        return _rerun_and_judge(source, inventory, shown, reporter=reporter, cancel=cancel)


def reproduce_bundle(
    bundle: Path,
    *,
    cwd: Path,
    testbed_file: Path | None,
    reporter: Reporter,
    cancel: threading.Event,
) -> Reproduction:
    """Reproduce the run archived in ``bundle`` (``radiops bundle``), with nothing else."""
    path = bundle if bundle.is_absolute() else cwd / bundle
    if not path.is_file():
        raise UsageError(f"--bundle {bundle}: no such file")
    inventory, shown = reproduction_testbed(testbed_file, cwd, default_store=cwd)
    with tempfile.TemporaryDirectory(prefix="radiops-bundle-") as scratch:
        root = Path(scratch)
        index = unpack(path, root)
        _, recorded, problems = read_manifest(root / "run" / MANIFEST)
        if recorded is None:
            raise InvalidInput(f"{bundle}: its manifest is not valid: {listed(problems)}")
        code = recorded["code"]
        author = recorded["trigger"]["author"] or {"name": "", "email": ""}
        source = _Source(
            name=recorded["experiment"]["name"],
            root=root / "source",
            recorded=recorded,
            recorded_dir=root / "run",
            recorded_store=ArtifactStore(root / "store"),
            code=CodeInfo(
                repository=code["repository"],
                commit=code["commit"],
                branch=None,
                dirty=False,
                author_name=author["name"],
                author_email=author["email"],
                commit_message=recorded["trigger"]["commit_message"] or "",
            ),
            runs=cwd / "reproductions" / recorded["experiment"]["name"],
        )
        source.runs.mkdir(parents=True, exist_ok=True)
        with loaded_images(root, index, inventory, reporter):
            return _rerun_and_judge(source, inventory, shown, reporter=reporter, cancel=cancel)


def bundle(run_id: str, *, cwd: Path, output: Path | None, reporter: Reporter) -> Path:
    """Write the bundle of run ``run_id`` of the repository at ``cwd``; its path."""
    repo = find_repository(cwd)
    if not RUN_ID.match(run_id):
        raise UsageError(f"{run_id}: not a run id such as 20261121T233100Z-1a2b3c4d")
    found = sorted((repo.root / EXPERIMENTS).glob(f"*/runs/{run_id}/{MANIFEST}"))
    if not found:
        raise UsageError(f"no experiment has a run {run_id} (experiments/*/runs/{run_id}/)")
    run_dir, recorded = published_run(repo.root, found[0].parent.parent.parent.name, run_id)
    target = output or cwd / f"{recorded['experiment']['name']}-{run_id}.radiops-bundle.tar"
    inventory, _ = reproduction_testbed(None, cwd, default_store=repo.root)
    client = connect(next(iter(local_default().nodes.values())))
    try:
        tags = write_bundle(
            target,
            repo_root=repo.root,
            run_dir=run_dir,
            manifest=recorded,
            store=store_of(inventory),
            client=client,
        )
    finally:
        client.close()
    for tag in tags:
        reporter.line(f"saved image {tag}")
    return target


def _rerun_and_judge(
    source: _Source,
    inventory: Testbed,
    shown: str,
    *,
    reporter: Reporter,
    cancel: threading.Event,
) -> Reproduction:
    recorded = source.recorded
    members = source.members or ((source.recorded_dir, recorded),)
    scenario = source.root / EXPERIMENTS / source.name / SCENARIO_FILE
    if not scenario.is_file():
        raise InvalidInput(f"the recorded commit has no experiments/{source.name}/{SCENARIO_FILE}")
    shutil.rmtree(scenario.parent / RUNS, ignore_errors=True)  # results are not code
    group = new_run_id() if len(members) > 1 else None
    options = RunOptions(
        provenance=lambda _root: source.code,
        actor=current_user(),
        testbed=(inventory, shown),
        trigger=Trigger(kind="reproduce"),
        plans_of=lambda experiment: (
            group_plans(experiment, [m for _, m in members], group)
            if group
            else [_plan(experiment, recorded)]
        ),
    )
    results = run_experiment(scenario, options, cwd=source.root, reporter=reporter, cancel=cancel)
    news = [_moved(result.run_dir, source.runs / result.run_id) for result in results]
    checks = _judge(source, members, news, scenario, inventory, group=group)
    summary: dict[str, Any] = {
        "experiment": source.name,
        "recorded_run": recorded["run_id"],
        "new_run": ", ".join(m["run_id"] for _, m in news),
        "commit": recorded["code"]["commit"],
        "testbed": shown,
    }
    if group:
        recorded_group = recorded["repetition"]["group"]
        summary |= {"group": f"{recorded_group} ({len(members)} runs), re-run as {group}"}
        summary |= {"test": GROUP_TEST, "level": GROUP_LEVEL}
    for new_dir, _ in news:
        write_atomic(new_dir / "reproduction.json", report_json(checks, summary))
        write_atomic(new_dir / "reproduction.md", report_markdown(checks, summary))
    return Reproduction(reproduced=reproduced(checks), checks=tuple(checks), run_dir=news[0][0])


def _moved(run_dir: Path, new_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The re-run moved beside the recorded runs, and its manifest."""
    shutil.move(str(run_dir), str(new_dir))
    _, new, problems = read_manifest(new_dir / MANIFEST)
    if new is None:
        raise InvalidInput(f"the re-run's manifest is not valid: {listed(problems)}")
    return new_dir, new


def _judge(
    source: _Source,
    members: Sequence[tuple[Path, Mapping[str, Any]]],
    news: Sequence[tuple[Path, dict[str, Any]]],
    scenario: Path,
    inventory: Testbed,
    *,
    group: str | None,
) -> list[Check]:
    """The checks of the re-run(s) against the recorded run(s): the scenario, then the runs."""
    scenario_sha256 = file_facts(scenario, shown="")["sha256"]
    expected = source.recorded["experiment"]["scenario_sha256"]
    experiment = load_experiment(scenario)
    recorded_bytes = [output_reader(d, source.recorded_store) for d, _ in members]
    new_store = store_of(inventory)
    new_bytes = [output_reader(d, new_store) for d, _ in news]
    return [
        Check(
            name="scenario",
            expected=expected,
            got=scenario_sha256,
            verdict="pass" if scenario_sha256 == expected else "fail",
        ),
        *(
            group_checks(
                experiment,
                [m for _, m in members],
                [m for _, m in news],
                recorded_bytes=recorded_bytes,
                new_bytes=new_bytes,
            )
            if group
            else compare_runs(
                experiment,
                source.recorded,
                news[0][1],
                recorded_bytes=recorded_bytes[0],
                new_bytes=new_bytes[0],
            )
        ),
        *inventory_checks(
            source.recorded, news[0][1], recorded_store=source.recorded_store, new_store=new_store
        ),
    ]


def _plan(experiment: Experiment, recorded: Mapping[str, Any]) -> RunPlan:
    return RunPlan(
        experiment=experiment,
        matrix_point=dict(recorded["experiment"]["matrix_point"]),
        parameters=dict(recorded["parameters"]),
        overrides={},
        seeds=dict(recorded["seeds"]),
    )


def _obtain_recorded_images(
    recorded: Mapping[str, Any], inventory: Testbed, reporter: Reporter
) -> Testbed:
    """Pull each image the run built by its recorded digest from the testbed's registry.

    A pulled image is tagged where the re-run's build looks for the image of
    that build context, so the re-run uses the very image that ran. Only the
    testbed's own registry is trusted for this (it holds what runners built and
    pushed); a reference to any other registry is rebuilt. When the registry
    does not answer, the re-run builds every image from the recorded commit on
    each engine, without the registry, and the image checks say whether the
    rebuilt images match.
    """
    registry = inventory.registry
    commit = str(recorded["code"]["commit"])[:12]
    if registry is None:
        return inventory
    problem = registry_problem(registry)
    if problem is not None:
        reporter.line(
            f"note: the registry {registry.address} does not answer ({problem}): images are "
            f"rebuilt from commit {commit} on every engine"
        )
        return dataclasses.replace(inventory, registry=None)
    wanted = [
        record
        for record in recorded["images"]
        if record["built"]
        and record.get("digest")
        and record.get("context_sha256")
        and record["ref"].startswith(f"{registry.address}/")
    ]
    clients, _ = connect_all(list(inventory.nodes.values()))  # the re-run names the others
    try:
        for url, client in clients.items():
            for record in wanted:
                try:
                    image_id = pull_pinned(client, record["ref"], progress=lambda _: None)
                except EnvironmentProblem as exc:
                    reporter.line(f"note: {record['image']}: {exc}; rebuilt from commit {commit}")
                    continue
                name = record["image"].rsplit("/", 1)[-1]
                client.images.get(image_id).tag(local_reference(name, record["context_sha256"]))
                reporter.line(f"{url}: {record['image']}: pulled {record['ref']}")
    finally:
        for client in clients.values():
            client.close()
    return inventory


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
