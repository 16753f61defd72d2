"""The Podman node of the local testbed (RADIOPS_TESTBED_PODMAN=1): Podman's
Docker-compatible API, started as a component of its own for one test."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from localtestbed import Settings
from localtestbed.component import Component
from localtestbed.engines import unmount_below
from localtestbed.images import copy_image
from localtestbed.layout import BASE_IMAGE
from localtestbed.podman import podman_node
from runner.engine.hardening import hardened
from tests.testing.testbed_fixtures import Testbed

pytestmark = pytest.mark.docker


@pytest.fixture
def podman(testbed: Testbed, tmp_path: Path) -> Iterator[Component]:
    """A Podman node with its own state, stopped and deleted when the test ends."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed: RADIOPS_TESTBED_PODMAN=1 scripts/testbed up")
    run = Path("/run") / f"radiops-pm-{uuid.uuid4().hex[:8]}"
    settings = Settings(state_dir=tmp_path / "state", run_dir=run)
    node = podman_node(settings)
    try:
        node.launch().wait_ready(timeout=60)
        copy_image(settings, "podman", node.address)
        yield node
    finally:
        node.stop()
        for directory in (run, settings.state_dir):
            unmount_below(directory)
            shutil.rmtree(directory, ignore_errors=True)


def test_a_podman_node_runs_a_hardened_container_through_the_docker_sdk(
    podman: Component,
) -> None:
    client = docker.DockerClient(base_url=podman.address, version="auto")
    try:
        components = [c["Name"] for c in client.version()["Components"]]
        assert "Podman Engine" in components
        script = "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; cat /proc/1/comm; id -u"
        container = client.containers.create(
            BASE_IMAGE,
            ["sh", "-c", script],
            network_mode="none",
            user="65534:65534",
            pids_limit=64,
            mem_limit="64m",
            **hardened(),
        )
        try:
            container.start()
            assert container.wait(timeout=60)["StatusCode"] == 0
            lines = container.logs().decode().split("\n")
        finally:
            container.remove(force=True)
    finally:
        client.close()
    assert lines[:4] == ["CapEff:\t0000000000000000", "NoNewPrivs:\t1", "podman-init", "65534"]
    assert podman.status().state == "up"
    assert podman.stop()
    assert podman.status().state == "down"
