"""Check scenarios, image directories, run records and the inventory; report every problem.

``radiops validate`` and every run (``radiops run``, ``ci``) start here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runner.model.checks import image_dir_problems, scenario_problems
from runner.model.errors import UsageError
from runner.model.experiment import SCENARIO_FILE, read_experiment
from runner.model.manifest import MANIFEST, read_manifest
from runner.model.problems import Problem, ProblemsFound
from runner.model.repo import IMAGES, RUNS, Repository, find_repository, links_where_written
from runner.model.testbed import (
    LOCAL_DEFAULT_NAME,
    TESTBED_FILE,
    Testbed,
    local_default,
    read_testbed,
)


@dataclass(kw_only=True)
class _Targets:
    scenarios: set[Path] = field(default_factory=set)
    images: set[Path] = field(default_factory=set)
    manifests: set[Path] = field(default_factory=set)


@dataclass(frozen=True, kw_only=True)
class Summary:
    experiments: int
    images: int
    manifests: int
    testbed: str


def validate(paths: Sequence[Path], *, cwd: Path, earlier_runs: bool = True) -> Summary:
    """Check the given paths (default: the whole repository at ``cwd``).

    An experiment's recorded runs are checked with it unless ``earlier_runs`` is
    False (a new run needs its scenario, images and inventory, and reading every
    earlier manifest would make each run slower than the one before).
    Raises ProblemsFound with every problem of every file when anything is
    invalid; returns what was checked when all is valid.
    """
    targets: dict[Path, _Targets] = {}
    for path in paths or [cwd]:
        absolute = path if path.is_absolute() else cwd / path
        if not absolute.exists():
            raise UsageError(f"{path}: no such file or directory")
        repo = find_repository(absolute if absolute.is_dir() else absolute.parent)
        _collect(absolute, repo, targets.setdefault(repo.root, _Targets()), shown=path)

    problems: list[Problem] = []
    experiments = images = manifests = 0
    testbed_names = []
    for root, wanted in sorted(targets.items()):
        repo = Repository(root=root)
        testbed, testbed_name = _testbed(repo, cwd, problems)
        testbed_names.append(testbed_name)
        for scenario in sorted(wanted.scenarios):
            problems += _scenario(scenario, repo, testbed, testbed_name, cwd)
            problems += _links(scenario.parent, repo, cwd)
            if earlier_runs:
                wanted.manifests.update(scenario.parent.glob(f"{RUNS}/*/{MANIFEST}"))
        for manifest in sorted(wanted.manifests):
            problems += _manifest(manifest, repo, cwd)
        manifests += len(wanted.manifests)
        for context in sorted(wanted.images):
            problems += image_dir_problems(context, repo, display=repo.display(context, cwd=cwd))
        experiments += len(wanted.scenarios)
        images += len(wanted.images)
    if problems:
        raise ProblemsFound(problems)
    return Summary(
        experiments=experiments,
        images=images,
        manifests=manifests,
        testbed=", ".join(testbed_names),
    )


def _collect(path: Path, repo: Repository, into: _Targets, *, shown: Path) -> None:
    if path.is_file():
        if path.name == SCENARIO_FILE:
            into.scenarios.add(path)
        elif path.name == TESTBED_FILE:
            pass  # the inventory is always checked
        elif path.name == MANIFEST:
            into.manifests.add(path)
        else:
            raise UsageError(
                f"{shown}: not a scenario ({SCENARIO_FILE}), inventory ({TESTBED_FILE}) or "
                f"run manifest ({MANIFEST}); give one of those, an experiment directory, "
                f"a run directory ({RUNS}/<run-id>) or the repository"
            )
    elif path.resolve() in (repo.root.resolve(), repo.experiments_dir.resolve()):
        into.scenarios.update(d / SCENARIO_FILE for d in repo.experiment_dirs())
        if path.resolve() == repo.root.resolve():
            into.images.update(repo.image_dirs())
    elif path.resolve() == repo.images_dir.resolve():
        into.images.update(repo.image_dirs())
    elif path.resolve().parent == repo.experiments_dir.resolve():
        into.scenarios.add(path / SCENARIO_FILE)
    elif path.resolve().parent == repo.images_dir.resolve():
        into.images.add(path)
    elif path.name == RUNS and path.resolve().parent.parent == repo.experiments_dir.resolve():
        into.manifests.update(path.glob(f"*/{MANIFEST}"))
    elif path.resolve().parent.name == RUNS:
        if not (path / MANIFEST).is_file():
            raise UsageError(
                f"{shown}: a run directory without {MANIFEST}: the run is still going, or "
                "its runner stopped before writing it (radiops recover finishes such runs)"
            )
        into.manifests.add(path / MANIFEST)
    else:
        raise UsageError(
            f"{shown}: not an experiment directory (experiments/<name>), a run directory "
            f"(experiments/<name>/{RUNS}/<run-id>), an image directory ({IMAGES}/<name>) "
            "or the repository"
        )


def _testbed(repo: Repository, cwd: Path, problems: list[Problem]) -> tuple[Testbed | None, str]:
    path = repo.root / TESTBED_FILE
    if not path.exists():
        return local_default(), LOCAL_DEFAULT_NAME
    shown = repo.display(path, cwd=cwd)
    _, testbed, found = read_testbed(path, display=shown)
    problems += found
    return testbed, shown


def _scenario(
    path: Path, repo: Repository, testbed: Testbed | None, testbed_name: str, cwd: Path
) -> list[Problem]:
    shown = repo.display(path, cwd=cwd)
    if not path.exists():
        directory = repo.display(path.parent, cwd=cwd)
        message = f"{directory}/ has no {SCENARIO_FILE}; add one (radiops new scaffolds it)"
        return [Problem(file=directory, message=message)]
    if not repo.contains(path):
        return [Problem(file=shown, message="is a link that leads outside the repository")]
    document, _, problems = read_experiment(path, display=shown)
    if document is not None:
        problems += scenario_problems(
            document, repo=repo, testbed=testbed, testbed_name=testbed_name
        )
    return problems


def _links(experiment_dir: Path, repo: Repository, cwd: Path) -> list[Problem]:
    return [
        Problem(
            file=repo.display(path, cwd=cwd),
            message=f"is a link (to {path.readlink()}) where the runner writes; "
            "radiops never writes through links: remove it",
        )
        for path in links_where_written(repo, experiment_dir)
    ]


def _manifest(path: Path, repo: Repository, cwd: Path) -> list[Problem]:
    shown = repo.display(path, cwd=cwd)
    if not repo.contains(path):
        return [Problem(file=shown, message="is a link that leads outside the repository")]
    _, _, problems = read_manifest(path, display=shown)
    return problems
