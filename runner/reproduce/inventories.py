"""What was inside the images, recorded against re-run: one check per image's inventory.

The recorded inventory is read from the recorded run's store (a bundle's ``store/``, or
the testbed's artifact store), the re-run's from the testbed's; both are named by
sha256 in their manifests. The same document is a pass; packages that differ are a
note that names them (the image check already says whether the image is the same);
an inventory that cannot be read is a note that says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.engine.artifacts import ArtifactStore
from runner.engine.inventory import stored_inventory
from runner.model.sbom import StoredInventory
from runner.reproduce.compare import NOTE, PASS, Check

SHOWN = 5  # packages named in a check, at most


def inventory_checks(
    recorded: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    recorded_store: ArtifactStore,
    new_store: ArtifactStore,
) -> list[Check]:
    """One check per recorded image that names an inventory."""
    checks = []
    for record in recorded["images"]:
        ref = record.get("inventory")
        if ref is None:
            continue
        name = f"inventory {record['role']}"
        expected = f"{ref['sha256'][:12]} ({ref['packages']} packages)"
        old = stored_inventory(recorded_store, ref["sha256"])
        if isinstance(old, str):
            checks.append(Check(name=name, expected=expected, got=old, verdict=NOTE))
            continue
        now = next((i for i in new["images"] if i["role"] == record["role"]), None)
        now_ref = now.get("inventory") if now else None
        if now_ref is None:
            got = "the re-run recorded no inventory"
            checks.append(Check(name=name, expected=expected, got=got, verdict=NOTE))
        elif now_ref["sha256"] == ref["sha256"]:
            checks.append(Check(name=name, expected=expected, got=expected, verdict=PASS))
        else:
            fresh = stored_inventory(new_store, now_ref["sha256"])
            got = fresh if isinstance(fresh, str) else _differences(old, fresh)
            checks.append(Check(name=name, expected=expected, got=got, verdict=NOTE))
    return checks


def _differences(old: StoredInventory, new: StoredInventory) -> str:
    keys = sorted(set(old.packages) | set(new.packages))
    changed = [
        f"{key[1]} {old.packages.get(key, '-')} → {new.packages.get(key, '-')}"
        for key in keys
        if old.packages.get(key) != new.packages.get(key)
    ]
    if not changed:
        return "another document with the same packages"
    more = f" and {len(changed) - SHOWN} more" if len(changed) > SHOWN else ""
    return f"{len(changed)} packages differ: {', '.join(changed[:SHOWN])}{more}"
