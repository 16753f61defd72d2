"""Where each part of the testbed lives, and what tests are told about it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from localtestbed.settings import Settings

DEFAULT_SOCKET = Path("/var/run/docker.sock")
DEFAULT_ENGINE = f"unix://{DEFAULT_SOCKET}"
BASE_IMAGE = "debian:bookworm-slim"


@dataclass(frozen=True, kw_only=True)
class Testbed:
    """What ``scripts/testbed up`` provides (``scripts/testbed env --json``)."""

    __test__: ClassVar[bool] = False  # not a test class, despite its name

    default_engine: str
    """URL of the default engine, e.g. ``unix:///var/run/docker.sock``."""
    node_engines: dict[str, str]
    """Node name -> engine URL (``unix:///run/radiops-testbed/node1/docker.sock``)."""
    registry: str
    """Registry address that image names are prefixed with: ``localhost:5000``."""
    testbed_file: Path
    """The generated testbed.yaml that lists the node engines."""

    @property
    def engines(self) -> dict[str, str]:
        """``"default"`` and every node, name -> engine URL."""
        return {"default": self.default_engine, **self.node_engines}

    @property
    def registry_url(self) -> str:
        """Base URL of the registry's HTTP API (plain HTTP on loopback)."""
        return f"http://{self.registry}"

    def as_json(self) -> dict[str, object]:
        return {
            "default_engine": self.default_engine,
            "node_engines": self.node_engines,
            "registry": self.registry,
            "testbed_file": str(self.testbed_file),
        }


def node_run_dir(settings: Settings, name: str) -> Path:
    """A node's exec root, sockets and pidfile (short: unix socket paths are limited)."""
    return settings.run_dir / name


def node_data_dir(settings: Settings, name: str) -> Path:
    return settings.state_dir / name


def node_engine(settings: Settings, name: str) -> str:
    return f"unix://{node_run_dir(settings, name)}/docker.sock"


#: the Podman node's name (RADIOPS_TESTBED_PODMAN=1)
PODMAN_NODE = "podman"


def podman_engine(settings: Settings) -> str:
    return f"unix://{settings.run_dir / PODMAN_NODE}/podman.sock"


def describe(settings: Settings | None = None) -> Testbed:
    """The testbed these settings describe (starts and asks nothing)."""
    settings = settings or Settings.from_env()
    nodes = {name: node_engine(settings, name) for name in settings.node_names}
    if settings.podman:  # opt-in: RADIOPS_TESTBED_PODMAN=1
        nodes[PODMAN_NODE] = podman_engine(settings)
    return Testbed(
        default_engine=DEFAULT_ENGINE,
        node_engines=nodes,
        registry=settings.registry,
        testbed_file=settings.testbed_file,
    )
