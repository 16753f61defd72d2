"""``radiops bundle`` and ``radiops reproduce --bundle``: a run archived, reproduced elsewhere."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import tarfile
from pathlib import Path

import docker
import docker.errors
import pytest

from runner.reproduce.bundle import BundleRefused, unpack
from tests.testing.repos import published, radiops
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
    # the image's inventory travels in the bundle, named by the manifest's sha256
    (image,) = recorded["images"]
    sbom = image["inventory"]["sha256"]
    with tarfile.open(archive) as bundled:
        index = json.load(bundled.extractfile("radiops-bundle.json"))  # type: ignore[arg-type]
        document = bundled.extractfile(f"store/sha256/{sbom[:2]}/{sbom}")
        assert document is not None
        assert hashlib.sha256(document.read()).hexdigest() == sbom
    assert index["inventories"] == {image["image_id"]: sbom}
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
    # the recorded inventory, read from the bundle, is the re-run's
    assert checks["inventory hello"] == "pass"
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


GiB = 1 << 30
HOLE_DATA = b"x" * 10240  # what a 10 kB sparse member really holds


def octal(number: int) -> bytes:
    """A 12-byte numeric field of a tar header: 11 octal digits and a NUL."""
    return b"%011o\0" % number


def gnu_sparse(name: str) -> tuple[tarfile.TarInfo, bytes]:
    """A GNU sparse member (type S): 10 kB of data at the end of a 1 GiB file of holes."""
    member = tarfile.TarInfo(name)
    member.size = len(HOLE_DATA)
    header = bytearray(member.tobuf(tarfile.GNU_FORMAT))
    header[156:157] = tarfile.GNUTYPE_SPARSE
    header[386:410] = octal(GiB - len(HOLE_DATA)) + octal(len(HOLE_DATA))
    header[483:495] = octal(GiB)
    header[148:156] = b"%06o\0 " % (256 + sum(header[:148]) + sum(header[156:512]))
    padding = b"\0" * (-len(HOLE_DATA) % tarfile.BLOCKSIZE)
    return member, bytes(header) + HOLE_DATA + padding


def write_raw(path: Path, *blocks: bytes) -> Path:
    path.write_bytes(b"".join(blocks) + b"\0" * (2 * tarfile.RECORDSIZE))
    return path


def pax_sparse(path: Path, name: str) -> Path:
    """A PAX sparse member (GNU.sparse 1.0): its map in its data, 1 GiB once expanded."""
    sparse_map = f"1\n{GiB - len(HOLE_DATA)}\n{len(HOLE_DATA)}\n".encode()
    data = sparse_map.ljust(tarfile.BLOCKSIZE, b"\0") + HOLE_DATA
    member = tarfile.TarInfo(name)
    member.size = len(data)
    member.pax_headers = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": name,
        "GNU.sparse.realsize": str(GiB),
    }
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        archive.addfile(member, io.BytesIO(data))
    return path


def written_bytes(folder: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("kind", ["gnu", "pax"])
def test_a_sparse_member_is_refused_before_it_expands(tmp_path: Path, kind: str) -> None:
    bundle = tmp_path / "sparse.tar"
    if kind == "gnu":
        write_raw(bundle, gnu_sparse("run/outputs/holes.bin")[1])
    else:
        pax_sparse(bundle, "run/outputs/holes.bin")
    assert bundle.stat().st_size < 64 << 10
    with tarfile.open(bundle) as archive:  # what tarfile itself would make of it
        (member,) = archive.getmembers()
        assert member.size == GiB
    dest = tmp_path / "out"
    with pytest.raises(BundleRefused, match=r"run/outputs/holes\.bin'? is a sparse file"):
        unpack(bundle, dest)
    assert written_bytes(dest) == 0


def test_a_compressed_bundle_cannot_expand_without_bound(tmp_path: Path) -> None:
    bundle = tmp_path / "bomb.tar.gz"
    size = 150 << 20  # zeros: 150 MiB from about 150 kB
    with tarfile.open(bundle, "w:gz") as archive:
        member = tarfile.TarInfo("run/outputs/zeros.bin")
        member.size = size
        archive.addfile(member, io.BytesIO(bytes(size)))
    assert bundle.stat().st_size < 1 << 20
    dest = tmp_path / "out"
    with pytest.raises(BundleRefused, match="more bytes than a bundle of its size may"):
        unpack(bundle, dest)
    assert written_bytes(dest) == 0


@pytest.mark.parametrize(
    ("second", "message"),
    [
        ("run/x", "'run/x' is both a file and a folder"),
        ("run/x/y", "'run/x/y' is inside 'run/x', which is a file"),
    ],
)
def test_a_file_then_a_folder_of_the_same_name_is_a_clear_refusal(
    tmp_path: Path, second: str, message: str
) -> None:
    bundle = tmp_path / "clash.tar"
    with tarfile.open(bundle, "w") as archive:
        first = tarfile.TarInfo("run/x")
        first.size = 1
        archive.addfile(first, io.BytesIO(b"x"))
        member = tarfile.TarInfo(second)
        member.type = tarfile.DIRTYPE
        archive.addfile(member)
    with pytest.raises(BundleRefused, match=message):
        unpack(bundle, tmp_path / "out")


SMUGGLED = "radiops/planted:ctx-000000000000"  # what later builds on the engine would reuse


def with_extra_tag(bundle: Path, out: Path, tag: str) -> Path:
    """A copy of ``bundle`` whose image archives' manifest.json names ``tag`` too."""
    with tarfile.open(bundle) as source, tarfile.open(out, "w") as copy:
        for member in source:
            data = member_bytes(source, member)
            if member.name.startswith("images/"):
                data = retagged(data, tag)
            copy.addfile(member, io.BytesIO(data))
    return out


def retagged(image: bytes, tag: str) -> bytes:
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(image)) as source,
        tarfile.open(fileobj=out, mode="w") as copy,
    ):
        for member in source:
            data = member_bytes(source, member)
            if member.name == "manifest.json":
                manifest = json.loads(data)
                manifest[0]["RepoTags"] = [*(manifest[0]["RepoTags"] or []), tag]
                data = json.dumps(manifest).encode()
                member.size = len(data)
            copy.addfile(member, io.BytesIO(data))
    return out.getvalue()


def member_bytes(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = archive.extractfile(member) if member.isfile() else None
    return handle.read() if handle is not None else b""


@pytest.mark.docker
def test_a_tag_smuggled_into_a_bundled_image_never_reaches_the_engine(
    testbed: Testbed, tmp_path: Path
) -> None:
    upstream, run_id = published(tmp_path)
    archive = tmp_path / "hello.tar"
    made = radiops(upstream, "bundle", run_id, "--output", str(archive))
    assert made.returncode == 0, made.stderr
    poisoned = with_extra_tag(archive, tmp_path / "poisoned.tar", SMUGGLED)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    client = docker.DockerClient(base_url=testbed.default_engine, version="auto")
    try:
        result = radiops(elsewhere, "reproduce", "--bundle", str(poisoned))
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get(SMUGGLED)
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(SMUGGLED)
        client.close()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
