"""Has this job already run? The same scenario, images and inputs make the same job.

Results are committed back to the branch, which gives it a new head; the
scenario, image contexts and input files are what decide whether a run
would repeat an earlier one, not the commit id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.experiment import Experiment, is_image_path
from runner.images import context_sha256
from runner.manifest import MANIFEST, file_facts

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


def earlier_runs(experiment: Experiment, root: Path) -> list[str]:
    """Run ids of finished runs of exactly this job (unreadable manifests are ignored)."""
    wanted = fingerprint(experiment, root)
    found = []
    for path in sorted(experiment.directory.glob(f"runs/*/{MANIFEST}")):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            if manifest["outcome"]["status"] in DONE and recorded(manifest) == wanted:
                found.append(manifest["run_id"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found
