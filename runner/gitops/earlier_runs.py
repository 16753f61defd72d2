"""Has this job already run? The same scenario, images and inputs make the same job.

The scenario, image contexts and input files decide whether a run would
repeat an earlier one, not the commit id: results committed back to the
target branch give it a new head, and an unrelated change later need not
run the job again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.engine.build_context import context_sha256
from runner.model.experiment import Experiment, is_image_path
from runner.model.manifest import file_facts

DONE = ("succeeded", "failed", "timeout")  # cancelled or broken runs may be retried


@dataclass(frozen=True, kw_only=True)
class Fingerprint:
    scenario: str
    images: tuple[tuple[str, str], ...]  # (image as written, context hash or the reference)
    inputs: tuple[tuple[str, str], ...]  # (path, sha256)


def fingerprint(experiment: Experiment, root: Path) -> Fingerprint:
    """The job ``experiment`` would run now, in the repository at ``root``."""
    images = {
        (role.image, context_sha256(root / role.image) if is_image_path(role.image) else role.image)
        for role in experiment.roles.values()
    }
    inputs = {(p, file_facts(root / p, shown=p)["sha256"]) for p in experiment.inputs}
    return Fingerprint(
        scenario=file_facts(experiment.path, shown="")["sha256"],
        images=tuple(sorted(images)),
        inputs=tuple(sorted(inputs)),
    )


def recorded(manifest: dict[str, Any]) -> Fingerprint:
    """The job a manifest records."""
    images = {
        (i["image"], i["context_sha256"] if i.get("context_sha256") else i["image"])
        for i in manifest["images"]
    }
    return Fingerprint(
        scenario=manifest["experiment"]["scenario_sha256"],
        images=tuple(sorted(images)),
        inputs=tuple(sorted((i["path"], i["sha256"]) for i in manifest["inputs"])),
    )


def earlier_runs(experiment: Experiment, root: Path, manifests: Iterable[bytes]) -> list[str]:
    """Run ids of finished runs of exactly this job among ``manifests`` (their texts).

    The caller says which records it trusts: CI passes the base commit's
    (runner/gitops/trusted_runs.py), never the files a pull request could have written.
    Unreadable manifests are ignored.
    """
    wanted = fingerprint(experiment, root)
    found = []
    for text in manifests:
        try:
            manifest = json.loads(text)
            if manifest["outcome"]["status"] in DONE and recorded(manifest) == wanted:
                found.append(manifest["run_id"])
        except (ValueError, KeyError, TypeError):
            continue
    return found
