"""A published run: its directory and manifest, and the testbed and artifact store a
reproduction or a bundle of it uses."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from runner.engine.artifacts import ArtifactStore
from runner.model.errors import InvalidInput, UsageError
from runner.model.experiment import SCENARIO_FILE
from runner.model.manifest import MANIFEST, read_manifest
from runner.model.problems import listed
from runner.model.repo import ARTIFACT_STORE, EXPERIMENTS, run_dir
from runner.model.testbed import (
    LOCAL_DEFAULT_NAME,
    Artifacts,
    Testbed,
    local_default,
    testbed_option,
)

RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")


def published_run(root: Path, target: str, run_id: str) -> tuple[Path, dict[str, Any]]:
    """The run directory and manifest of a published run; clear errors otherwise."""
    name = Path(target).name
    if not (root / EXPERIMENTS / name / SCENARIO_FILE).is_file():
        raise UsageError(
            f"{target}: no experiment here; give its directory, e.g. experiments/hello"
        )
    if not RUN_ID.match(run_id):
        raise UsageError(f"--run {run_id}: not a run id such as 20261121T233100Z-1a2b3c4d")
    path = run_dir(root, name, run_id) / MANIFEST
    if not path.is_file():
        raise UsageError(f"{name} has no run {run_id} ({path} does not exist)")
    _, recorded, problems = read_manifest(path)
    if recorded is None:
        raise InvalidInput(f"{path}: not a valid manifest: {listed(problems)}")
    if recorded["code"]["commit"] is None:
        raise InvalidInput(
            f"run {run_id} records no commit (it ran outside git): nothing to reproduce it from"
        )
    return path.parent, recorded


def store_of(inventory: Testbed) -> ArtifactStore:
    """The artifact store of an inventory ``reproduction_testbed`` returned."""
    assert inventory.artifacts is not None
    return ArtifactStore(inventory.artifacts.path)


def reproduction_testbed(
    path: Path | None, cwd: Path, *, default_store: Path
) -> tuple[Testbed, str]:
    """The testbed to reproduce on (default: the local simulated one), with an artifact store."""
    inventory, shown = local_default(), LOCAL_DEFAULT_NAME
    if path is not None:
        inventory, shown = testbed_option(path, cwd=cwd)
    if inventory.artifacts is None:  # this repository's store, never the scratch copy's
        default = Artifacts(path=default_store / ARTIFACT_STORE)
        inventory = dataclasses.replace(inventory, artifacts=default)
    return inventory, shown
