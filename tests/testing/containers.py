"""Containers that run a script, for tests that read what a container left behind."""

from __future__ import annotations

import docker
from docker.models.containers import Container

from tests.testing.testbed_fixtures import BASE_IMAGE, DockerCleanup

#: where the script runs, as a run's output directory
OUT = "/radiops/out"


def run(client: docker.DockerClient, cleanup: DockerCleanup, script: str) -> Container:
    """A container that ran ``script`` as root (default capabilities) and exited 0."""
    container = cleanup.container(
        "default",
        client.containers.create(
            BASE_IMAGE,
            ["sh", "-euc", f"mkdir -p {OUT}\ncd {OUT}\n{script}"],
            network_mode="none",
            labels=cleanup.labels,
        ),
    )
    container.start()
    result = container.wait(timeout=300)
    assert result["StatusCode"] == 0, container.logs().decode()
    return container
