"""The repository as the site sees it: experiments, their runs, images, the testbed.

Nothing here raises for bad repository content: a broken scenario or
manifest becomes a record that carries its problems, so the page about it
can say so.
"""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.model.experiment import SCENARIO_FILE, is_image_path
from runner.model.health import HEALTH_FILE, HealthState, read_health_record
from runner.model.manifest import MANIFEST
from runner.model.repo import ARTIFACT_STORE, PROBE_CACHE, RUNS, Repository
from runner.model.testbed import TESTBED_FILE, Testbed, read_testbed
from runner.site import manifests, scenarios
from runner.site.cache import BuildCache

RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-)){0,62}$")
MAX_TEXT_BYTES = 256 << 10  # READMEs and Dockerfiles shown on the site
LOCAL_STORE = ARTIFACT_STORE


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """One directory under ``runs/``: its manifest when valid, else its problems."""

    experiment: str
    run_id: str
    directory: Path
    manifest: dict[str, Any] | None
    manifest_sha256: str | None
    problems: tuple[str, ...]

    @property
    def status(self) -> str:
        if self.manifest is None:
            return "broken"
        return str(self.manifest["outcome"]["status"])


@dataclass(frozen=True, kw_only=True)
class ExperimentRecord:
    name: str
    directory: Path
    scenario: dict[str, Any] | None  # what the site shows of it (scenarios.scenario_view)
    problems: tuple[str, ...]
    readme: str | None
    runs: tuple[RunRecord, ...]  # newest first
    dockerfiles: Mapping[str, str | None]  # images/<dir> -> its Dockerfile (None: absent)

    @property
    def title(self) -> str:
        return str(self.scenario["title"]) if self.scenario else self.name


@dataclass(frozen=True, kw_only=True)
class Store:
    """How the site reaches outputs kept in the artifact store (``cas://``)."""

    path: Path | None  # the store directory, when it is on this machine
    url: str | None  # the base URL it is published under (testbed.yaml artifacts.url)
    why_not: str = ""  # why a store on this machine is not read (path None)


@dataclass(frozen=True, kw_only=True)
class SiteData:
    root: Path
    experiments: tuple[ExperimentRecord, ...]
    ignored: tuple[str, ...]  # what under experiments/ is not an experiment, and why
    testbed: Testbed | None  # None: no (valid) testbed.yaml
    testbed_problems: tuple[str, ...]
    store: Store
    probes: Mapping[str, Any]  # node -> last probe (the runner's probe cache), when present
    health: Mapping[str, HealthState] = field(default_factory=dict)  # testbed-health.json

    @property
    def runs(self) -> list[RunRecord]:
        return [run for experiment in self.experiments for run in experiment.runs]


def collect(root: Path, *, cache: BuildCache) -> SiteData:
    """Everything the site shows, read from the repository at ``root``."""
    repo = Repository(root=root)
    experiments, ignored = [], []
    for directory in repo.experiment_dirs():
        if not SLUG.match(directory.name):
            ignored.append(f"experiments/{directory.name}: not an experiment name (a slug)")
        elif not repo.contains(directory):
            ignored.append(f"experiments/{directory.name}: a link leading outside the repository")
        else:
            experiments.append(_experiment(directory, repo, cache))
    testbed, problems = _testbed(root)
    return SiteData(
        root=root,
        experiments=tuple(experiments),
        ignored=tuple(ignored),
        testbed=testbed,
        testbed_problems=problems,
        store=_store(root, testbed),
        probes=_probes(root / PROBE_CACHE),
        health=read_health_record(root / HEALTH_FILE),
    )


def _experiment(directory: Path, repo: Repository, cache: BuildCache) -> ExperimentRecord:
    name = directory.name
    scenario_path = directory / SCENARIO_FILE
    shown = f"experiments/{name}/{SCENARIO_FILE}"
    scenario: dict[str, Any] | None = None
    problems: list[str] = []
    if not scenario_path.is_file():
        problems.append(f"{shown}: missing")
    elif not repo.contains(scenario_path):
        problems.append(f"{shown}: a link leading outside the repository")
    else:
        read = scenarios.read_for_site(scenario_path, display=shown, cache=cache)
        scenario = read.view
        problems += read.problems
    runs, run_problems = _runs(directory, cache)
    dockerfiles = {}
    for role in scenario["roles"] if scenario else ():
        image = str(role["image"])
        if is_image_path(image) and image.rstrip("/") not in dockerfiles:
            dockerfile = repo.root / image / "Dockerfile"
            dockerfiles[image.rstrip("/")] = (
                _text(dockerfile) if repo.contains(dockerfile) else None
            )
    readme = directory / "README.md"
    return ExperimentRecord(
        name=name,
        directory=directory,
        scenario=scenario,
        problems=tuple(problems + run_problems),
        readme=_text(readme) if repo.contains(readme) else None,
        runs=runs,
        dockerfiles=dockerfiles,
    )


def _runs(directory: Path, cache: BuildCache) -> tuple[tuple[RunRecord, ...], list[str]]:
    runs_dir = directory / RUNS
    if runs_dir.is_symlink():
        return (), [f"experiments/{directory.name}/runs: a link; its runs are not shown"]
    if not runs_dir.is_dir():
        return (), []
    records, problems = [], []
    for run_dir in sorted((p for p in runs_dir.iterdir() if p.is_dir()), reverse=True):
        shown = f"experiments/{directory.name}/runs/{run_dir.name}"
        if not RUN_ID.match(run_dir.name):
            problems.append(f"{shown}: not a run id (YYYYMMDDTHHMMSSZ-8 hex digits); ignored")
            continue
        manifest_path = run_dir / MANIFEST
        if run_dir.is_symlink() or manifest_path.is_symlink():
            problems.append(f"{shown}: a link leading outside the repository; ignored")
            continue
        if not manifest_path.is_file():
            kept = (run_dir / "manifest.invalid.json").is_file()
            why = "the runner kept an invalid one as manifest.invalid.json" if kept else "missing"
            records.append(_broken(directory.name, run_dir, (f"{shown}/{MANIFEST}: {why}",)))
            continue
        read = manifests.read_for_site(manifest_path, display=f"{shown}/{MANIFEST}", cache=cache)
        data, found = read.data, list(read.problems)
        if data is not None and data["run_id"] != run_dir.name:
            found.append(f"{shown}/{MANIFEST}: run_id {data['run_id']!r} is not the directory's")
        if data is not None and data["experiment"]["name"] != directory.name:
            found.append(
                f"{shown}/{MANIFEST}: written for experiment {data['experiment']['name']!r}"
            )
        records.append(
            RunRecord(
                experiment=directory.name,
                run_id=run_dir.name,
                directory=run_dir,
                manifest=data if not found else None,
                manifest_sha256=read.sha256,
                problems=tuple(found),
            )
        )
    return tuple(records), problems


def _broken(experiment: str, run_dir: Path, problems: Sequence[str]) -> RunRecord:
    return RunRecord(
        experiment=experiment,
        run_id=run_dir.name,
        directory=run_dir,
        manifest=None,
        manifest_sha256=None,
        problems=tuple(problems),
    )


def _testbed(root: Path) -> tuple[Testbed | None, tuple[str, ...]]:
    path = root / TESTBED_FILE
    if not path.is_file():
        return None, ()
    _, testbed, problems = read_testbed(path, display=TESTBED_FILE)
    return testbed, tuple(str(problem) for problem in problems)


def _store(root: Path, testbed: Testbed | None) -> Store:
    if testbed is not None and testbed.artifacts is not None:
        path = testbed.artifacts.path
        return Store(path=path if path.is_dir() else None, url=testbed.artifacts.url)
    # the default store lies in the repository: reached through no link (as
    # every object in it, see downloads.open_below)
    path = root
    for part in LOCAL_STORE.parts:
        path = path / part
        try:
            mode = path.lstat().st_mode
        except OSError:
            return Store(path=None, url=None)
        if stat.S_ISLNK(mode):
            return Store(
                path=None,
                url=None,
                why_not=f"not published: {LOCAL_STORE.as_posix()} leads through a symbolic link",
            )
        if not stat.S_ISDIR(mode):
            return Store(path=None, url=None)
    return Store(path=path, url=None)


def _probes(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # the probe cache is optional and local to the runner's machine
    nodes = data.get("nodes") if isinstance(data, dict) else None
    if not isinstance(nodes, dict):
        return {}
    return {
        name: entry["result"]
        for name, entry in nodes.items()
        if isinstance(entry, dict) and isinstance(entry.get("result"), dict)
    }


def _text(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_TEXT_BYTES + 1)
    except OSError:
        return None
    text = raw[:MAX_TEXT_BYTES].decode("utf-8", errors="replace")
    return text + "\n[… cut at 256 KiB]" if len(raw) > MAX_TEXT_BYTES else text
