"""Where things are in an experiment repository (the layout in DESIGN.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from runner.model.errors import UsageError

EXPERIMENTS = "experiments"
IMAGES = "images"
RUNS = "runs"  # experiments/<name>/runs/<run-id>/: written by the runner only
STATE = ".radiops"  # the runner's own files: artifact store, probe cache
ARTIFACT_STORE = Path(STATE) / "artifacts"  # the default store, relative to the repository
PROBE_CACHE = Path(STATE) / "probes.json"  # what `radiops testbed probe` found last


@dataclass(frozen=True, kw_only=True)
class Repository:
    root: Path

    @property
    def experiments_dir(self) -> Path:
        return self.root / EXPERIMENTS

    @property
    def images_dir(self) -> Path:
        return self.root / IMAGES

    def experiment_dirs(self) -> list[Path]:
        return _subdirs(self.experiments_dir)

    def image_dirs(self) -> list[Path]:
        return _subdirs(self.images_dir)

    def contains(self, path: Path) -> bool:
        """True when ``path``, with every symbolic link followed, stays inside the repository.

        Repository content may come from a stranger's pull request: a link
        to /etc/shadow must not be read as an input or used as a build context.
        """
        return path.resolve().is_relative_to(self.root.resolve())

    def display(self, path: Path, *, cwd: Path) -> str:
        """``path`` as a person at ``cwd`` would type it."""
        absolute = path if path.is_absolute() else cwd / path
        try:
            return str(absolute.relative_to(cwd))
        except ValueError:
            return str(absolute)


def run_dir(root: Path, experiment: str, run_id: str) -> Path:
    """Where run ``run_id`` of ``experiment`` is recorded: experiments/<name>/runs/<run-id>."""
    return root / EXPERIMENTS / experiment / RUNS / run_id


def is_run_path(path: str) -> bool:
    """True for a repository path under ``experiments/<name>/runs/``: what the runner writes."""
    parts = path.split("/")
    return len(parts) > 3 and parts[0] == EXPERIMENTS and parts[2] == RUNS


def links_where_written(repo: Repository, experiment_dir: Path) -> list[Path]:
    """Links in the places the runner writes for ``experiment_dir``: sorted.

    Those are the experiment's ``runs/`` and the repository's ``.radiops/``,
    the folders leading to them and everything below them. The runner
    refuses to write through a link (runner.model.files); this finds them first.
    """
    found = [
        path
        for path in (
            repo.experiments_dir,
            experiment_dir,
            experiment_dir / RUNS,
            repo.root / STATE,
        )
        if path.is_symlink()
    ]
    for top in (experiment_dir / RUNS, repo.root / STATE):
        if top.is_symlink() or not top.is_dir():
            continue
        for folder, folders, files in os.walk(top):  # links are listed, never entered
            below = (Path(folder, name) for name in (*folders, *files))
            found += [path for path in below if path.is_symlink()]
    return sorted(set(found))


def is_safe_relative(path: str) -> bool:
    """True for a '/'-separated relative path that cannot climb out of its base."""
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        return False
    return ".." not in path.split("/")


def _subdirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def find_repository(start: Path) -> Repository:
    """The repository holding ``start``: the nearest folder with an ``experiments/`` directory."""
    start = start.absolute()
    for folder in (start, *start.parents):
        if (folder / EXPERIMENTS).is_dir():
            return Repository(root=folder)
    raise UsageError(
        f"{start} is not inside an experiment repository (no {EXPERIMENTS}/ directory here "
        "or above); run radiops from your repository, or create one from the radiops template"
    )
