"""The result manifest's records: its name, the records a run's manifest is assembled
from, and reading and writing it against its schema. The builder that reads what the
run did (containers, probes) is runner/pipeline/manifest_builder.py."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.model.errors import FatalError
from runner.model.files import write_atomic
from runner.model.loader import Read, read_checked
from runner.model.problems import Problem
from runner.model.schemas import data_errors
from runner.model.yamldoc import YamlDocument

MANIFEST = "manifest.json"
SCHEMA_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class ImageRecord:
    role: str
    image: str  # as written in the scenario
    ref: str  # the reference that ran
    digest: str | None  # registry digest; None without a registry
    image_id: str
    built: bool
    dockerfile_sha256: str | None
    context_sha256: str | None
    base_image: Mapping[str, str | None] | None
    inventory: Mapping[str, Any] | None = (
        None  # runner/engine/inventory.py's InventoryRef.as_manifest
    )


@dataclass(frozen=True, kw_only=True)
class Outcome:
    status: str  # succeeded | failed | timeout | cancelled | error
    reason: str
    exit_codes: Mapping[str, int | None]
    timed_out: bool = False
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class PullRequest:
    number: int
    title: str
    url: str


@dataclass(frozen=True, kw_only=True)
class Trigger:
    """Why the run happened: by hand, for a pull request, a push, or the watcher."""

    kind: str = "manual"  # manual | pull_request | push | watch | reproduce
    actor: str | None = None  # who asked; None: the user running radiops
    pull_request: PullRequest | None = None


@dataclass(frozen=True, kw_only=True)
class CodeInfo:
    repository: str  # origin URL without its user part, else the checkout's path
    commit: str | None  # None outside git or before the first commit
    branch: str | None  # None when detached or outside git
    dirty: bool  # the working tree differs from the commit (runs/ output aside)
    author_name: str
    author_email: str
    commit_message: str


class ManifestInvalid(FatalError):
    """The runner produced a manifest its own schema refuses: a bug, reported as such."""

    exit_code = 70


def read_manifest(path: Path, *, display: str | None = None) -> Read[dict[str, Any]]:
    """A manifest checked against its schema (JSON is YAML: errors get line and column)."""
    return read_checked(
        path,
        display=display,
        schema="manifest",
        not_a_mapping="a manifest must be a JSON object",
        semantic=_repetition_problems,
        build=dict,
    )


def _repetition_problems(document: YamlDocument) -> list[Problem]:
    """A repetition's index must lie within 1..of (its schema checks the rest)."""
    record = document.data.get("repetition") if isinstance(document.data, dict) else None
    if not isinstance(record, dict):
        return []
    index, of = record.get("index"), record.get("of")
    if isinstance(index, int) and isinstance(of, int) and not 1 <= index <= of:
        message = f"repetition index {index} is not within 1..{of} (of: the size of its group)"
        return [document.problem(("repetition", "index"), message)]
    return []


def write_manifest(run_dir: Path, manifest: Mapping[str, Any]) -> Path:
    """Write ``manifest.json`` atomically.

    A manifest the schema refuses is a bug: it is kept as manifest.invalid.json
    (nothing the run produced is lost) and ManifestInvalid is raised.
    """
    text = json.dumps(manifest, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    problems = data_errors(json.loads(text), "manifest")
    target = run_dir / (MANIFEST if not problems else "manifest.invalid.json")
    write_atomic(target, text)
    if problems:
        raise ManifestInvalid(
            f"the run's manifest does not match schemas/manifest.schema.json (kept as {target}): "
            + "; ".join(problems[:5])
        )
    return target


def file_facts(path: Path, *, shown: str) -> dict[str, Any]:
    """path, sha256 and size of a repository file (an input)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return {"path": shown, "sha256": digest.hexdigest(), "size": size}
