"""Example repositories for tests: copies of tests/examples/repo in a temporary folder."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PROJECT = EXAMPLES.parent.parent


def make_example_repo(where: Path) -> Path:
    """A fresh copy of the example repository (images, input file, testbed.yaml)."""
    repo = where / "repo"
    shutil.copytree(EXAMPLES / "repo", repo)
    (repo / "experiments").mkdir()
    return repo


def add_scenario(repo: Path, name: str, text: str) -> Path:
    """Place ``text`` as experiments/<name>/experiment.yaml; returns the file."""
    folder = repo / "experiments" / name
    folder.mkdir(parents=True)
    scenario = folder / "experiment.yaml"
    scenario.write_text(text, encoding="utf-8")
    return scenario


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    return make_example_repo(tmp_path)


@pytest.fixture
def scenario_in(example_repo: Path) -> Callable[[str, str], Path]:
    """``scenario_in(name, text)`` adds a scenario to a fresh example repository."""

    def add(name: str, text: str) -> Path:
        return add_scenario(example_repo, name, text)

    return add
