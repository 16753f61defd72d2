"""An image's inventory read from a real image on the local engine (runner/inventory.py):
what it finds, what a hostile image cannot make it do, and the container it leaves none of."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from runner.engine.artifacts import ArtifactStore
from runner.engine.inventory import LABEL, image_inventory, known_inventory, read_image
from runner.model.sbom import Package, read_inventory

pytestmark = pytest.mark.docker

SITE = "/usr/local/lib/python3.11/site-packages"
DOCKERFILE = f"""FROM debian:bookworm-slim
ENV PYTHON_VERSION=3.11.4
COPY site {SITE}
COPY status.d /var/lib/dpkg/status.d
RUN mkdir {SITE}/linked-1.0.dist-info \\
 && ln -s /etc/shadow {SITE}/linked-1.0.dist-info/METADATA \\
 && ln -s / {SITE}/root-9.dist-info
"""
FILES = {
    "Dockerfile": DOCKERFILE.encode(),
    "site/Good_Pkg-2.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: Good_Pkg\nVersion: 2.0",
    "site/evil-1.0.dist-info/METADATA": b"Name: evil\x1b[2J\nVersion: 1.0\n\nbody\n",
    "site/huge-1.0.dist-info/METADATA": b"Name: huge\nVersion: 1.0\n" + b"x" * (2 << 20),
    "site/old-0.9.egg-info": b"Metadata-Version: 1.0\nName: old\nVersion: 0.9\n",
    "status.d/tiny": b"Package: distroless-tiny\nVersion: 3\nArchitecture: all\n",
    "status.d/tiny.md5sums": b"Package: not-a-package\nVersion: 0\n",
}


@pytest.fixture(scope="module")
def crafted(docker_clients: dict[str, docker.DockerClient]) -> Iterator[str]:
    client = docker_clients["default"]
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in FILES.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    image, _ = client.images.build(
        fileobj=context, custom_context=True, pull=False, rm=True, network_mode="none"
    )
    yield str(image.id)
    client.images.remove(str(image.id), force=True)


def leftovers(client: docker.DockerClient) -> list[str]:
    found = client.containers.list(all=True, filters={"label": LABEL})
    return [c.name for c in found if c.name is not None]


def test_a_crafted_image_gives_what_it_holds_and_nothing_more(
    crafted: str, docker_clients: dict[str, docker.DockerClient]
) -> None:
    client = docker_clients["default"]
    found = read_image(client, crafted)
    pypi = {p.name: p.version for p in found.packages if p.ecosystem == "pypi"}
    assert pypi == {"good-pkg": "2.0", "evil\x1b[2j": "1.0", "old": "0.9"}
    # no link followed (linked, root), the oversized file not read, md5sums not a status file
    assert found.notes == (f"{SITE}/huge-1.0.dist-info/METADATA: over 1048576 bytes, not read",)
    debs = {p.name: p for p in found.packages if p.ecosystem == "deb"}
    assert debs["distroless-tiny"] == Package(
        ecosystem="deb", name="distroless-tiny", version="3", arch="all"
    )
    assert "not-a-package" not in debs and "libc6" in debs
    assert found.os["ID"] == "debian"
    assert leftovers(client) == []


def test_the_inventory_is_stored_once_and_known_after(
    crafted: str, docker_clients: dict[str, docker.DockerClient], tmp_path: Path
) -> None:
    client = docker_clients["default"]
    store = ArtifactStore(tmp_path / "artifacts")
    assert known_inventory(store, crafted) is None
    made = image_inventory(client, crafted, store)
    data = store.path(made.sha256).read_bytes()
    assert b"\x1b" not in data
    assert read_inventory(data).packages[("pypi", "good-pkg", "")] == "2.0"
    assert known_inventory(store, crafted) == made
    # the engine is not asked again: a client that cannot reach any engine still answers
    gone = docker.DockerClient(base_url="unix:///nonexistent/docker.sock", version="1.41")
    assert image_inventory(gone, crafted, store) == made
    # a damaged index entry or a lost document makes it read again
    index = tmp_path / "artifacts/inventories" / f"{crafted.removeprefix('sha256:')}.json"
    index.write_text("{not json")
    assert known_inventory(store, crafted) is None
    assert image_inventory(client, crafted, store) == made
    store.path(made.sha256).unlink()
    assert known_inventory(store, crafted) is None
    assert leftovers(client) == []
