"""The import rules of ARCHITECTURE.md, enforced: every module under runner/ is parsed
(``ast``, static imports only, relative ones resolved) and each import checked against
the rule tables below. Change a rule here and in ARCHITECTURE.md together."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parent.parent / "runner"

# package -> the packages of runner/ its modules may import (each may import itself;
# every package may import the root ``runner`` for ``__version__``)
MAY_IMPORT: dict[str, frozenset[str]] = {
    "model": frozenset(),
    "engine": frozenset({"model"}),
    "pipeline": frozenset({"model", "engine"}),
    "gitops": frozenset({"model", "engine", "pipeline"}),
    "reproduce": frozenset({"model", "engine", "pipeline", "gitops"}),
    "site": frozenset({"model"}),
    "cli": frozenset({"model", "engine", "pipeline", "gitops", "reproduce", "site"}),
    "runner": frozenset({"cli"}),  # runner/__init__.py and runner/__main__.py
}

# library (a top-level name or a dotted prefix) -> the packages that may import it;
# a library not listed here may be imported anywhere
LIBRARIES: dict[str, frozenset[str]] = {
    "docker": frozenset({"engine"}),
    "requests": frozenset({"engine"}),  # Docker's transport: its errors
    "pygit2": frozenset({"gitops"}),
    "urllib.request": frozenset({"engine", "gitops"}),  # the registry; GitHub's API
    "urllib.error": frozenset({"engine", "gitops"}),
    "http": frozenset(),
    "socket": frozenset({"pipeline"}),  # the host's name in a manifest and a pending record
    "mkdocs": frozenset({"site"}),
    "markdown": frozenset({"site"}),
    "nh3": frozenset({"site"}),
    "markupsafe": frozenset({"site"}),
    "jinja2": frozenset({"site"}),
    "numpy": frozenset({"site", "reproduce"}),
}

# module -> the libraries it imports against LIBRARIES, each with its reason. An
# exception that is no longer used fails too: remove it here and in ARCHITECTURE.md.
EXCEPTIONS: dict[str, dict[str, str]] = {
    "runner.pipeline.runs": {
        "docker": "types the clients it is handed and the containers it collects from",
        "requests": "catches Docker's transport errors while it collects",
    },
    "runner.pipeline.recovery": {
        "docker": "types the clients and catches Docker's errors while it sweeps",
        "requests": "catches Docker's transport errors while it sweeps",
    },
    "runner.reproduce.bundle": {
        "docker": "saves images into a bundle and loads them back",
    },
    "runner.pipeline.experiment_run": {"docker": "types the clients of the engines it runs on"},
    "runner.pipeline.preparation": {"docker": "types the clients it prepares images on"},
    "runner.pipeline.probing": {"docker": "types the clients it probes through"},
    "runner.cli.commands.images": {"docker": "connects to the engine it builds on"},
    "runner.cli.commands.watch": {"pygit2": "clones, fetches and checks out the watched branches"},
    "runner.cli.commands.pin": {
        "urllib.request": "a second registry client (to be merged into engine/registry)",
        "urllib.error": "a second registry client (to be merged into engine/registry)",
    },
    "runner.cli.commands.site": {"mkdocs": "`radiops site` builds and serves with mkdocs"},
    "runner.cli.commands.new": {"jinja2": "renders the new experiment's templates"},
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the module or name imported, absolute
    line: int


def module_name(path: Path, root: Path = RUNNER) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(module: str, source: str, *, is_package: bool = False) -> Iterator[Import]:
    """Every static import of ``source`` (anywhere in it, TYPE_CHECKING blocks too),
    relative ones made absolute: ``from runner import x`` yields ``runner.x``."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                if node.level > len(parts):
                    raise ValueError(f"{module}:{node.lineno}: relative import beyond runner")
                base = parts[: len(parts) - node.level + 1]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            for alias in node.names:
                yield Import(module, f"{stem}.{alias.name}", node.lineno)


def layer(module: str) -> str:
    """The package of runner/ a module belongs to (``runner`` for the root's own)."""
    parts = module.split(".")
    if parts[0] != "runner":
        raise ValueError(module)
    if len(parts) == 1 or parts[1] in ("__init__", "__main__"):
        return "runner"
    return parts[1]


def violations(module: str, source: str, *, is_package: bool = False) -> list[str]:
    """What ``source``, the text of ``module``, imports against the rules."""
    found = []
    own = layer(module)
    if own not in MAY_IMPORT:
        return [f"{module}: not in a package of ARCHITECTURE.md ({sorted(MAY_IMPORT)})"]
    excepted = EXCEPTIONS.get(module, {})
    for item in imports(module, source, is_package=is_package):
        where = f"{module}:{item.line}"
        if item.target.split(".")[0] == "runner":
            parts = item.target.split(".")
            inside = len(parts) > 2 or (len(parts) == 2 and parts[1] in MAY_IMPORT)
            target = parts[1] if inside else "runner"
            if target not in (own, "runner") and target not in MAY_IMPORT[own]:
                found.append(f"{where}: {own}/ may not import {target}/ ({item.target})")
            continue
        for library, allowed in LIBRARIES.items():
            matches = item.target == library or item.target.startswith(library + ".")
            if matches and own not in allowed and library not in excepted:
                found.append(f"{where}: {own}/ may not import {library} ({item.target})")
    return found


def _modules() -> list[Path]:
    return sorted(path for path in RUNNER.rglob("*.py") if "templates" not in path.parts)


def test_every_module_keeps_the_import_rules() -> None:
    problems = []
    for path in _modules():
        source = path.read_text(encoding="utf-8")
        name = module_name(path)
        problems += violations(name, source, is_package=path.name == "__init__.py")
    assert not problems, "\n".join(problems)


def test_every_exception_is_still_needed() -> None:
    used: dict[str, set[str]] = {}
    for path in _modules():
        name = module_name(path)
        for item in imports(name, path.read_text(encoding="utf-8")):
            for library in LIBRARIES:
                if item.target == library or item.target.startswith(library + "."):
                    used.setdefault(name, set()).add(library)
    stale = [
        f"{module}: {library}"
        for module, libraries in EXCEPTIONS.items()
        for library in libraries
        if library not in used.get(module, set())
    ]
    assert not stale, "exceptions no longer used: " + ", ".join(stale)


def test_the_rules_see_modules() -> None:
    names = {module_name(path) for path in _modules()}
    assert len(names) > 80
    for package in MAY_IMPORT:
        if package != "runner":
            assert f"runner.{package}" in names, package


COMMANDS = "runner.cli.commands"


def command_imports(module: str, source: str) -> list[str]:
    """The other command modules a command module imports: shared work belongs in
    pipeline/ (or gitops/, reproduce/), never in a command."""
    return [
        f"{module}:{item.line}: a command imports another command ({item.target})"
        for item in imports(module, source)
        if item.target.startswith(COMMANDS + ".")
        and item.target.split(".")[3] != module.split(".")[3]
    ]


def test_no_command_imports_another_command() -> None:
    problems = []
    for path in sorted((RUNNER / "cli" / "commands").glob("*.py")):
        if path.name != "__init__.py":
            problems += command_imports(module_name(path), path.read_text(encoding="utf-8"))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("from runner.cli.commands.run import run\n", True),
        ("from runner.cli.commands import validate\n", True),
        ("import runner.cli.commands.probe\n", True),
        ("from .validate import validate\n", True),
        ("from runner.cli.commands.ci import _main\n", False),  # itself
        ("from runner.pipeline.experiment_run import run_experiment\n", False),
        ("from runner.cli.command import Command\n", False),
    ],
)
def test_a_command_importing_a_command_is_found(source: str, found: bool) -> None:
    assert bool(command_imports("runner.cli.commands.ci", source)) is found


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("runner.model.fake", "import docker\n", "model/ may not import docker"),
        ("runner.model.fake", "import docker.errors\n", "model/ may not import docker"),
        ("runner.model.fake", "from pygit2 import Repository\n", "may not import pygit2"),
        ("runner.model.fake", "import urllib.request\n", "may not import urllib.request"),
        ("runner.model.fake", "from runner.engine import execute\n", "may not import engine/"),
        ("runner.model.fake", "from runner import engine\n", "may not import engine/"),
        ("runner.model.fake", "from ..engine.execute import Placed\n", "may not import engine/"),
        ("runner.site.fake", "from .. import pipeline\n", "site/ may not import pipeline/"),
        ("runner.site.fake", "import runner.cli.app\n", "site/ may not import cli/"),
        ("runner.engine.fake", "from runner.pipeline.runs import x\n", "may not import pipeline/"),
        ("runner.pipeline.fake", "from runner.gitops import gitinfo\n", "may not import gitops/"),
        ("runner.pipeline.fake", "import pygit2\n", "pipeline/ may not import pygit2"),
        ("runner.gitops.fake", "import docker\n", "gitops/ may not import docker"),
        ("runner.fake", "import os\n", "not in a package"),
        ("runner.newpkg.fake", "import os\n", "not in a package"),
    ],
)
def test_a_broken_rule_is_found(module: str, source: str, expected: str) -> None:
    found = violations(module, source)
    assert found, f"{module}: {source!r} passed"
    assert any(expected in problem for problem in found), found


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("runner.model.fake", "from runner import __version__\nimport json, yaml\n"),
        ("runner.model.fake", "from . import units\nfrom .problems import Problem\n"),
        ("runner.engine.fake", "import docker\nfrom runner.model import plan\n"),
        ("runner.site.fake", "from runner.site.cache import BuildCache\nimport mkdocs\n"),
        ("runner.cli.commands.fake", "from runner.pipeline.runs import RunResult\n"),
        ("runner.__main__", "from runner.cli import main\n"),
    ],
)
def test_a_kept_rule_passes(module: str, source: str) -> None:
    assert violations(module, source) == []


def test_a_relative_import_resolves_from_its_package() -> None:
    found = list(imports("runner.site", "from . import urls\n", is_package=True))
    assert [item.target for item in found] == ["runner.site.urls"]
    found = list(imports("runner.site.views", "from .urls import x\nfrom .. import model\n"))
    assert [item.target for item in found] == ["runner.site.urls.x", "runner.model"]


@pytest.mark.parametrize("package", ["runner.model", "runner.site"])
def test_the_model_and_the_site_load_neither_docker_nor_git(package: str) -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        f"import {package} as package\n"
        "for info in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(sorted({name.split('.')[0] for name in sys.modules}"
        " & {'docker', 'pygit2', 'requests'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=RUNNER.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]", result.stdout


def test_importing_runner_model_and_runner_site_does_not_load_docker() -> None:
    code = (
        "import runner.model, runner.site, sys; "
        "print('docker' in sys.modules, 'pygit2' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=RUNNER.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["False", "False"]
