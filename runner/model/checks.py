"""Checks of a scenario against the rest of the repository and the testbed.

The schema sees one file; these see its neighbours: the directory it lives
in, the image contexts and input files it names, and the nodes that could
host its roles.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from runner.model.experiment import is_image_path
from runner.model.gpus import gpu_shortage
from runner.model.problems import Problem
from runner.model.repo import Repository, is_safe_relative
from runner.model.schedule import can_host
from runner.model.suggest import hint
from runner.model.testbed import Testbed
from runner.model.yamldoc import YamlDocument, as_list, as_mapping

IMAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def scenario_problems(
    document: YamlDocument, *, repo: Repository, testbed: Testbed | None, testbed_name: str
) -> list[Problem]:
    """Cross-file problems of one scenario.

    ``testbed`` is None when the inventory is itself broken (its own problems
    are reported apart); ``testbed_name`` is how messages name it.
    """
    data = as_mapping(document.data)
    problems: list[Problem] = []
    directory = document.path.parent.name
    name = data.get("name")
    if isinstance(name, str) and name != directory:
        message = (
            f"the experiment is named '{name}' but lives in experiments/{directory}/; "
            "rename the directory or the experiment so they match"
        )
        problems.append(document.problem(("name",), message))
    for role_name, role in as_mapping(data.get("roles")).items():
        if not isinstance(role, dict):
            continue
        image = role.get("image")
        if isinstance(image, str) and is_image_path(image):
            for message in image_path_problems(image, repo):
                problems.append(document.problem(("roles", role_name, "image"), message))
        if testbed is not None:
            problems += _placement_problems(document, role_name, role, testbed, testbed_name)
    for i, item in enumerate(as_list(data.get("inputs"))):
        if isinstance(item, str) and is_safe_relative(item):  # else the schema says why
            for message in _input_problems(item, repo):
                problems.append(document.problem(("inputs", i), message))
    return problems


def image_path_problems(image: str, repo: Repository) -> list[str]:
    """Why ``images/<dir>`` is not a usable build context of ``repo`` (empty when it is)."""
    context = repo.root / image.rstrip("/")
    known = [p.name for p in repo.image_dirs()]
    if not context.is_dir():
        return [
            f"no image directory {image.rstrip('/')}/ in this repository"
            + hint(context.name, known)
        ]
    if not repo.contains(context):
        return [f"{image} is a link that leads outside the repository"]
    dockerfile = context / "Dockerfile"
    if not dockerfile.is_file() or not repo.contains(dockerfile):
        return [f"{image.rstrip('/')}/ has no Dockerfile"]
    return []


def image_dir_problems(context: Path, repo: Repository, *, display: str) -> list[Problem]:
    """Problems of one directory under images/, whether or not a scenario uses it."""
    problems = []
    if not IMAGE_NAME.match(context.name):
        message = (
            f"image directory '{context.name}' cannot name a Docker image: use lowercase "
            "letters, digits, '.', '_' and '-'"
        )
        problems.append(Problem(file=display, message=message))
    for message in image_path_problems(f"images/{context.name}", repo):
        problems.append(Problem(file=display, message=message))
    return problems


def _input_problems(item: str, repo: Repository) -> list[str]:
    path = repo.root / item
    if not path.exists():
        return [f"no such file in the repository: {item}"]
    if not repo.contains(path):
        return [f"{item} is a link that leads outside the repository"]
    if not path.is_file():
        return [f"{item} is not a file"]
    return []


def _placement_problems(
    document: YamlDocument, role_name: str, role: dict[str, Any], testbed: Testbed, where: str
) -> list[Problem]:
    problems: list[Problem] = []
    node = role.get("node")
    tags = [t for t in as_list(role.get("tags")) if isinstance(t, str)]
    radio = as_mapping(role.get("radio"))
    radio_type = radio.get("type")
    if not isinstance(node, str | None) or not isinstance(radio_type, str | None):
        return problems  # mistyped (a list, a number...): the schema reports it
    if isinstance(node, str) and node not in testbed.nodes:
        message = f"no node '{node}' in {where}" + (
            hint(node, testbed.nodes) or f"; nodes: {', '.join(testbed.nodes)}"
        )
        problems.append(document.problem(("roles", role_name, "node"), message))
        return problems
    all_tags = {t for n in testbed.nodes.values() for t in n.tags}
    for i, tag in enumerate(tags):
        if tag not in all_tags:
            message = f"no node of {where} has the tag '{tag}'" + hint(tag, all_tags)
            problems.append(document.problem(("roles", role_name, "tags", i), message))
    all_radios = {r for n in testbed.nodes.values() for r in n.radio_types}
    if isinstance(radio_type, str) and radio_type not in all_radios:
        known = ", ".join(sorted(all_radios)) or "none"
        message = f"no node of {where} has a radio of type '{radio_type}' (radio types: {known})"
        problems.append(document.problem(("roles", role_name, "radio", "type"), message))
    if problems:
        return problems
    eligible = [
        n
        for n in testbed.nodes.values()
        if can_host(n, node=node, tags=tags, radio_type=radio_type, needs_radio=bool(radio))
    ]
    gpus = role.get("gpus", 0)
    if isinstance(gpus, int) and (
        shortage := gpu_shortage(
            {role_name: gpus},
            {n.name: n.gpus for n in testbed.nodes.values()},
            {role_name: [n.name for n in eligible]},
        )
    ):
        return [document.problem(("roles", role_name, "gpus"), shortage)]
    count = role.get("count", 1)
    if isinstance(count, int) and len(eligible) < count:
        wants = _describe_needs(
            node=node, tags=tags, radio_type=radio_type, needs_radio=bool(radio)
        )
        message = f"the role needs {count} node(s) {wants}; {where} has {len(eligible)}" + (
            f" ({', '.join(n.name for n in eligible)})" if eligible else ""
        )
        problems.append(document.problem(("roles", role_name), message, key=True))
    return problems


def _describe_needs(
    *, node: str | None, tags: list[str], radio_type: str | None, needs_radio: bool
) -> str:
    parts = []
    if node:
        parts.append(f"named {node}")
    if tags:
        parts.append(f"tagged {', '.join(tags)}")
    if radio_type:
        parts.append(f"with a radio of type {radio_type}")
    elif needs_radio:
        parts.append("with a radio")
    return " ".join(parts) if parts else "of any kind"
