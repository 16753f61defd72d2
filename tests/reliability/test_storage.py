"""The artifact store's disk is full; the registry is down: a clear error, nothing half-written.

The store is a real 2 MiB tmpfs; the registry is a real port nothing listens on.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.testing.repos import add_scenario, commit_all, make_run_repo, radiops, shell_scenario

pytestmark = pytest.mark.docker

BIG = (
    "head -c 3000000 /dev/urandom > $RADIOPS_OUTPUT_DIR/big.bin; "
    "echo small > $RADIOPS_OUTPUT_DIR/small.txt"
)


@pytest.fixture
def small_store(tmp_path: Path) -> Iterator[Path]:
    store = tmp_path / "store"
    store.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(store)], check=True)
    try:
        yield store
    finally:
        subprocess.run(["umount", str(store)], check=False)


def test_a_full_store_gives_a_warning_a_whole_manifest_and_no_partial_object(
    tmp_path: Path, small_store: Path
) -> None:
    inventory = (
        "nodes:\n  local:\n    engine: unix:///var/run/docker.sock\n"
        f"artifacts:\n  path: {small_store}\n  inline_max: 1K\n"
    )
    repo = make_run_repo(tmp_path, testbed=inventory)
    add_scenario(repo, "big", shell_scenario("big", script=BIG))
    commit_all(repo, "big")
    result = radiops(repo, "run", "experiments/big")
    (run_dir,) = (repo / "experiments/big/runs").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())  # whole and valid
    assert result.returncode == 0 or manifest["outcome"]["status"] != "succeeded"
    assert any("No space left on device" in w for w in manifest.get("warnings", [])), manifest
    assert "big.bin" not in {o["path"] for o in manifest["outputs"]}  # not claimed as kept
    assert not (run_dir / "manifest.invalid.json").exists()
    objects = [p for p in (small_store / "sha256").rglob("*") if p.is_file()]
    for path in objects:  # whatever is in the store is complete: its name is its hash
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
    assert list((small_store / "tmp").iterdir()) == []
    assert "warning" in result.stderr and "No space left on device" in result.stderr


def test_a_registry_that_is_down_fails_the_push_clearly(tmp_path: Path) -> None:
    inventory = (
        "nodes:\n  local:\n    engine: unix:///var/run/docker.sock\n"
        "registry:\n  address: 127.0.0.1:5999\n  insecure: true\n"
    )
    repo = make_run_repo(tmp_path, testbed=inventory)
    result = radiops(repo, "images", "push", "images/hello")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "127.0.0.1:5999" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (repo / "images.lock").exists()
