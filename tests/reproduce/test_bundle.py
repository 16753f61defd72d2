"""``radiops bundle`` and ``radiops reproduce --bundle``: a run archived, reproduced elsewhere."""

from __future__ import annotations

import io
import json
import os
import signal
import tarfile
from pathlib import Path

import docker
import docker.errors
import pytest

from runner.bundle import BundleRefused, unpack
from tests.reproduce.test_reproduce import published
from tests.testing.repos import radiops
from tests.testing.testbed_fixtures import REGISTRY_PIDFILE, Testbed, run_testbed


@pytest.mark.docker
def test_a_bundle_reproduces_on_another_engine_without_registry_or_git(
    testbed: Testbed, fresh_engine: str, tmp_path: Path
) -> None:
    upstream, run_id = published(tmp_path)
    archive = tmp_path / "hello.tar"
    made = radiops(upstream, "bundle", run_id, "--output", str(archive))
    assert made.returncode == 0, made.stderr
    recorded = json.loads(
        (upstream / "experiments/hello/runs" / run_id / "manifest.json").read_text()
    )
    # another machine: an engine that has no image at all, and no registry running
    client = docker.DockerClient(base_url=fresh_engine, version="auto")
    try:
        assert client.images.list(all=True) == []
    finally:
        client.close()
    registry = int(Path(REGISTRY_PIDFILE).read_text())
    os.kill(registry, signal.SIGTERM)
    try:
        elsewhere = tmp_path / "elsewhere"  # no git, no repository
        elsewhere.mkdir()
        (elsewhere / "lab.yaml").write_text(f"nodes:\n  bench:\n    engine: {fresh_engine}\n")
        result = radiops(elsewhere, "reproduce", "--bundle", str(archive), "--testbed", "lab.yaml")
    finally:
        testbed_up = run_testbed("up")  # the registry again, for the tests after this one
        assert testbed_up.returncode == 0, testbed_up.describe()
    assert result.returncode == 0, result.stdout + result.stderr
    (report,) = (elsewhere / "reproductions" / "hello").glob("*/reproduction.json")
    checks = {c["name"]: c["verdict"] for c in json.loads(report.read_text())["checks"]}
    assert checks["image hello"] == "pass"  # the bundled image itself, not a rebuild
    assert set(checks.values()) == {"pass"}
    new = json.loads((report.parent / "manifest.json").read_text())
    assert new["placements"][0]["node"] == "bench"
    assert new["code"]["commit"] == recorded["code"]["commit"]


def hostile(tmp_path: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    path = tmp_path / "hostile.tar"
    with tarfile.open(path, "w") as archive:
        member.size = len(data) if member.isfile() else 0
        archive.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


@pytest.mark.parametrize(
    ("name", "kind", "message"),
    [
        ("../escape.txt", tarfile.REGTYPE, "leaves the bundle"),
        ("/etc/passwd", tarfile.REGTYPE, "leaves the bundle"),
        ("run/link", tarfile.SYMTYPE, "link or special file"),
        ("run/fifo", tarfile.FIFOTYPE, "link or special file"),
    ],
)
def test_hostile_bundles_are_refused(tmp_path: Path, name: str, kind: bytes, message: str) -> None:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else ""
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(BundleRefused, match=message):
        unpack(hostile(tmp_path, member, b"x"), dest)
    assert not (tmp_path / "escape.txt").exists()
    assert list(dest.iterdir()) == []
