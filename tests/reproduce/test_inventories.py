"""The inventory checks of ``radiops reproduce``: recorded inventory against the re-run's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.engine.artifacts import ArtifactStore
from runner.model.sbom import Inventory, Package, canonical_bytes, cyclonedx
from runner.reproduce.compare import NOTE, PASS
from runner.reproduce.inventories import inventory_checks

IMAGE_ID = "sha256:" + "ab" * 32


def _stored(store: ArtifactStore, *packages: Package) -> dict[str, Any]:
    document = cyclonedx(Inventory(image_id=IMAGE_ID, packages=packages), tool_version="t")
    sha256, _ = store.put([canonical_bytes(document)])
    return {"sha256": sha256, "format": "CycloneDX 1.5", "packages": len(packages)}


def _manifest(inventory: dict[str, Any] | None) -> dict[str, Any]:
    return {"images": [{"role": "hello", "image_id": IMAGE_ID, "inventory": inventory}]}


def test_the_same_inventory_passes_and_a_changed_one_names_the_packages(tmp_path: Path) -> None:
    recorded_store, new_store = ArtifactStore(tmp_path / "a"), ArtifactStore(tmp_path / "b")
    curl = Package(ecosystem="deb", name="curl", version="7.88", arch="amd64")
    newer = Package(ecosystem="deb", name="curl", version="8.0", arch="amd64")
    numpy = Package(ecosystem="pypi", name="numpy", version="1.26")
    old = _stored(recorded_store, curl, numpy)
    same = _stored(new_store, curl, numpy)
    (check,) = inventory_checks(
        _manifest(old), _manifest(same), recorded_store=recorded_store, new_store=new_store
    )
    assert (check.name, check.verdict) == ("inventory hello", PASS)
    changed = _stored(new_store, newer)
    (check,) = inventory_checks(
        _manifest(old), _manifest(changed), recorded_store=recorded_store, new_store=new_store
    )
    assert check.verdict == NOTE
    assert "2 packages differ" in check.got and "curl 7.88 → 8.0" in check.got
    assert "numpy 1.26 → -" in check.got


def test_an_inventory_missing_from_the_bundle_is_a_note_that_says_so(tmp_path: Path) -> None:
    elsewhere, empty = ArtifactStore(tmp_path / "a"), ArtifactStore(tmp_path / "b")
    old = _stored(elsewhere, Package(ecosystem="pypi", name="numpy", version="1.26"))
    (check,) = inventory_checks(
        _manifest(old), _manifest(old), recorded_store=empty, new_store=empty
    )
    assert check.verdict == NOTE and "is not in the artifact store" in check.got
    assert (
        inventory_checks(_manifest(None), _manifest(old), recorded_store=empty, new_store=empty)
        == []
    )
