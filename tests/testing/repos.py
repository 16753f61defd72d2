"""Example repositories for tests: copies of tests/examples/repo in a temporary folder."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PROJECT = EXAMPLES.parent.parent
# What a person's runs, builds and previews leave in a checkout. Never a test's input: a
# test that copied them would see another number of runs, another store, another site.
LEFTOVERS = ("runs", "reproductions", ".radiops", "public", ".cache", "__pycache__", ".venv")


def copy_from_project(part: str, dest: Path) -> Path:
    """Copy ``PROJECT/part`` (an experiment, an image context, the site) to ``dest`` as the
    template holds it: without the runs, stores and caches left in this checkout."""
    shutil.copytree(PROJECT / part, dest, ignore=shutil.ignore_patterns(*LEFTOVERS))
    return dest


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


TOOLS_DOCKERFILE = "FROM debian:bookworm-slim\n"


def make_run_repo(where: Path, *, testbed: str | None = None) -> Path:
    """A real git repository to run experiments from: images/hello, images/tools
    (plain Debian: scenarios give it shell commands), an optional testbed.yaml."""
    repo = where / "runrepo"
    (repo / "experiments").mkdir(parents=True)
    copy_from_project("images/hello", repo / "images" / "hello")
    (repo / "images" / "tools").mkdir()
    (repo / "images" / "tools" / "Dockerfile").write_text(TOOLS_DOCKERFILE)
    (repo / ".gitignore").write_text(".radiops/\n")
    if testbed is not None:
        (repo / "testbed.yaml").write_text(testbed)
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "a repository to run experiments from")
    return repo


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=Test Author", "-c", "user.email=author@example.org", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def shell_scenario(name: str, *, script: str, duration: str = "30s", extra: str = "") -> str:
    """A one-role scenario running ``script`` with sh in images/tools."""
    quoted = script.replace("\\", "\\\\").replace('"', '\\"')
    return (
        f"name: {name}\ndescription: test\nduration: {duration}\n{extra}"
        f'roles:\n  main:\n    image: images/tools\n    command: [sh, -c, "{quoted}"]\n'
    )


def radiops(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """``radiops ARGS`` run in ``cwd`` from this checkout, as a person runs it (``env`` added)."""
    process = radiops_started(cwd, *args, env=env)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def radiops_in_process(cwd: Path, *args: str) -> tuple[int, str, str]:
    """``radiops ARGS`` in this process, as the console script runs it: (exit code, stdout,
    stderr). Fast, for many calls; :func:`radiops` proves the real command."""
    from runner.cli.app import main  # the package under test, imported when first used

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit:  # argparse's own usage errors, as the console script ends
            code = exit.code if isinstance(exit.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def radiops_started(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None, quiet: bool = False
) -> subprocess.Popen[str]:
    """``radiops ARGS`` started in ``cwd`` and left running: stdout and stderr piped as
    text (``quiet``: thrown away, for a process nobody reads and that may print a lot)."""
    output = subprocess.DEVNULL if quiet else subprocess.PIPE
    return subprocess.Popen(
        [sys.executable, "-m", "runner", *args],
        cwd=cwd,
        stdout=output,
        stderr=output,
        text=True,
        env={**os.environ, **(env or {}), "PYTHONPATH": str(PROJECT)},
    )


def published(where: Path, *, whole: bool = False) -> tuple[Path, str]:
    """A repository whose hello run was committed, as the testbed's publish job does.

    ``whole``: a clone of this project (tool and template), else just hello.
    """
    repo = where / "upstream"
    if whole:
        git(where, "clone", "-q", str(PROJECT), str(repo))
    else:
        for part in ("experiments/hello", "images/hello"):
            copy_from_project(part, repo / part)
        git(repo, "init", "-q", "-b", "main")
        commit_all(repo, "hello")
    result = radiops(repo, "run", "experiments/hello")
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.split()[0]
    commit_all(repo, f"results: hello {run_id}")
    return repo, run_id


RADIO_IMAGES = ("sdr-base", "channel", "tone-link", "bpsk-ber")


def radio_repo(where: Path) -> Path:
    """A git repository with the radio examples and their images, as a fork would have them."""
    repo = where / "radio-lab"
    for name in RADIO_IMAGES:
        copy_from_project(f"images/{name}", repo / "images" / name)
    for name in ("tone-link", "bpsk-ber"):
        copy_from_project(f"experiments/{name}", repo / "experiments" / name)
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "radio examples")
    return repo


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
