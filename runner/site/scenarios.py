"""Reading scenarios for the site: what a page shows of each, cached by content.

Checking a scenario (YAML with position marks, the schema, the semantic
checks) is most of what reading it costs, and most scenarios have not changed
since the last build. The site only shows a scenario, so what it shows (or
its problems) is kept in the build cache as plain JSON, by a hash of the
file's bytes, the name it is shown under and the runner's code and schemas:
a changed file, or a runner that reads scenarios differently, is read again.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from runner.model.experiment import Experiment, RadioSettings, read_experiment
from runner.model.limits import Limits
from runner.model.units import format_duration
from runner.site.cache import BuildCache, content_key
from runner.site.render import size


@dataclass(frozen=True, kw_only=True)
class ScenarioRead:
    """A scenario as the site sees it: what its pages show when valid, else its problems."""

    view: dict[str, Any] | None
    problems: tuple[str, ...]


def read_for_site(path: Path, *, display: str, cache: BuildCache) -> ScenarioRead:
    """The scenario at ``path``, from the cache when these bytes were read before."""
    try:
        raw = path.read_bytes()
    except OSError:
        raw = None  # read_experiment words the problem
    entry = None
    if raw is not None:
        key = content_key(hashlib.sha256(raw).hexdigest(), display, _code_hash())
        entry = cache.path("scenarios", key, ".json")
        cached = _load(entry)
        if cached is not None:
            cache.hits["scenarios"] += 1
            return cached
    _, experiment, problems = read_experiment(path, display=display)
    cache.misses["scenarios"] += 1
    read = ScenarioRead(
        view=scenario_view(experiment) if experiment else None,
        problems=tuple(str(problem) for problem in problems),
    )
    if entry is not None and raw is not None and _unchanged(path, raw):
        data = {"view": read.view, "problems": list(read.problems)}
        cache.write(entry, json.dumps(data, sort_keys=True).encode("utf-8"))
    # plain JSON, as a cached read gives it: pages never depend on where it came from
    return _from_json(json.loads(json.dumps({"view": read.view, "problems": read.problems})))


def scenario_view(experiment: Experiment) -> dict[str, Any]:
    """Everything the site shows of a valid scenario, as JSON data."""
    return {
        "name": experiment.name,
        "title": experiment.title,
        "description": experiment.description,
        "tags": list(experiment.tags),
        "authors": [
            {"name": author.name, "affiliation": author.affiliation}
            for author in experiment.authors
        ],
        "duration": format_duration(experiment.duration_s),
        "timeout": format_duration(experiment.timeout_s),
        "parameters": [
            {
                "name": p.name,
                "type": p.type,
                "default": p.default,
                "unit": p.unit,
                "minimum": p.minimum,
                "maximum": p.maximum,
                "choices": list(p.choices),
                "description": p.description,
            }
            for p in experiment.parameters.values()
        ],
        "matrix": {name: list(values) for name, values in experiment.matrix.items()},
        "roles": [
            {
                "name": role.name,
                "image": role.image,
                "image_is_path": role.image_is_path,
                "count": role.count,
                "node": role.node,
                "tags": list(role.tags),
                "radio": [[key, value] for key, value in radio_fields(role.radio)]
                if role.radio
                else None,
                "command": list(role.command) if role.command else None,
                "resources": limits_text(role.resources),
            }
            for role in experiment.roles.values()
        ],
        "outputs": [
            {"path": o.path, "sigmf": o.sigmf, "description": o.description}
            for o in experiment.outputs
        ],
        # the yardsticks of the experiment page's history (runner/site/history.py)
        "tolerances": {
            name: {"absolute": t.absolute, "relative": t.relative, "better": t.better}
            for name, t in experiment.metric_tolerances.items()
        },
    }


def _load(entry: Path) -> ScenarioRead | None:
    try:
        data = json.loads(entry.read_bytes())
    except (OSError, ValueError):
        return None  # a cache: unreadable means absent
    if not isinstance(data, dict) or not isinstance(data.get("problems"), list):
        return None
    if not isinstance(data.get("view"), dict | None):
        return None
    return _from_json(data)


def _from_json(data: dict[str, Any]) -> ScenarioRead:
    return ScenarioRead(view=data["view"], problems=tuple(map(str, data["problems"])))


def _unchanged(path: Path, raw: bytes) -> bool:
    """True when ``path`` still holds ``raw``: a file edited while read is not cached."""
    try:
        return path.read_bytes() == raw
    except OSError:
        return False


@functools.cache
def _code_hash() -> str:
    """A hash of the code that reads and shows a scenario (this module and all it
    imports from the runner, found in their source) and of the schemas."""
    digest = hashlib.sha256()
    for name in sorted(_runner_imports(__name__, set())):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            digest.update(content_key(name, Path(spec.origin).read_bytes()).encode())
    schemas = resources.files("runner") / "schemas"
    for item in sorted(schemas.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".json"):
            digest.update(content_key(item.name, item.read_bytes()).encode())
    return digest.hexdigest()


def _runner_imports(name: str, found: set[str]) -> set[str]:
    """``name`` and the runner modules it imports, directly or not."""
    if name in found or not (name == "runner" or name.startswith("runner.")):
        return found
    try:
        spec = importlib.util.find_spec(name)
    except ImportError:  # a name imported from a module, not a module
        return found
    if spec is None or not spec.origin:
        return found
    found.add(name)
    for node in ast.walk(ast.parse(Path(spec.origin).read_bytes())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                _runner_imports(alias.name, found)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            _runner_imports(node.module, found)
            for alias in node.names:  # from runner import units
                _runner_imports(f"{node.module}.{alias.name}", found)
    return found


def radio_fields(radio: RadioSettings) -> Iterator[tuple[str, object]]:
    for key in ("type", "frequency", "rate", "gain", "antenna", "channel"):
        value = getattr(radio, key)
        if value is not None:
            yield key, value


def limits_text(limits: Limits) -> str:
    parts = []
    if limits.cpus is not None:
        parts.append(f"{limits.cpus:g} CPU")
    if limits.memory_bytes is not None:
        parts.append(f"{size(limits.memory_bytes)} memory")
    if limits.pids is not None:
        parts.append(f"{limits.pids} processes")
    return ", ".join(parts) or "node defaults"
