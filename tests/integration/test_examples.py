"""The example images build on a real engine, and hello does what its README says."""

from __future__ import annotations

import io
import json
import tarfile

import docker
import pytest
from docker.models.containers import Container

from runner.engine.images import build, dockerfile_base
from runner.model.experiment import load_experiment
from runner.model.repo import Repository
from tests.testing.repos import PROJECT
from tests.testing.testbed_fixtures import DockerCleanup

pytestmark = pytest.mark.docker

IMAGES = sorted(p.name for p in (PROJECT / "images").iterdir() if (p / "Dockerfile").is_file())


def read_file(container: Container, path: str) -> bytes:
    stream, _ = container.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        member = archive.extractfile(archive.getmembers()[0])
        assert member is not None
        return member.read()


@pytest.mark.parametrize("image", IMAGES)
def test_example_image_builds(image: str, docker_clients: dict[str, docker.DockerClient]) -> None:
    """Each image builds the way radiops builds it (``FROM images/<dir>`` resolved first).

    Kept afterwards, like the base image: later builds and runs reuse it.
    """
    client = docker_clients["default"]
    built = build(client, Repository(root=PROJECT), f"images/{image}", progress=lambda _: None)
    assert client.images.get(built.local_ref).id == built.image_id
    base = dockerfile_base((PROJECT / "images" / image / "Dockerfile").read_text())
    if base is not None and base.startswith("images/"):
        assert built.base_image is not None
        parent = build(client, Repository(root=PROJECT), base, progress=lambda _: None)
        assert not parent.built  # built first, as the base of this one
        assert built.base_image.image_id == parent.image_id
        layers = {layer["Id"] for layer in client.images.get(built.image_id).history()}
        assert parent.image_id in layers


def test_hello_prints_its_environment_and_writes_its_outputs(
    docker_clients: dict[str, docker.DockerClient], docker_cleanup: DockerCleanup
) -> None:
    experiment = load_experiment(PROJECT / "experiments" / "hello" / "experiment.yaml")
    role = experiment.roles["hello"]
    client = docker_clients["default"]
    tag = docker_cleanup.image(f"{docker_cleanup.unique('hello')}:test")
    client.images.build(
        path=str(PROJECT / role.image), tag=tag, network_mode="none", rm=True, forcerm=True
    )
    params = {"greeting": "bonjour", "repeat": 4}
    container = docker_cleanup.container(
        "default",
        client.containers.create(
            tag,
            environment={
                "RADIOPS_EXPERIMENT": experiment.name,
                "RADIOPS_RUN_ID": "20261121T000000Z-00000000",
                "RADIOPS_ROLE": "hello",
                "RADIOPS_ROLE_INDEX": "0",
                "RADIOPS_OUTPUT_DIR": "/tmp/out",
                "RADIOPS_PARAM_GREETING": str(params["greeting"]),
                "RADIOPS_PARAM_REPEAT": str(params["repeat"]),
            },
            network_mode="none",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            pids_limit=role.resources.pids,
            mem_limit=role.resources.memory_bytes,
            labels=docker_cleanup.labels,
        ),
    )
    container.start()
    assert container.wait(timeout=60)["StatusCode"] == 0
    log = container.logs().decode()
    assert "hello from hello#0 of hello (run 20261121T000000Z-00000000)" in log
    assert "RADIOPS_PARAM_GREETING=bonjour" in log
    greeting = read_file(container, "/tmp/out/greeting.txt").decode()
    assert greeting == "bonjour, testbed\n" * 4
    metrics = json.loads(read_file(container, "/tmp/out/metrics.json"))
    assert metrics == {"lines": 4, "bytes": len(greeting)}
