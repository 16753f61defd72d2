"""The testbed's settings, read once from the environment and checked."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_STATE = "/var/lib/radiops-testbed"
DEFAULT_RUN = "/run/radiops-testbed"

#: the kernel's limit for a unix socket path (sun_path) is 107 characters: keep a margin
SOCKET_PATH_LIMIT = 100


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the variable and the fix."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What ``RADIOPS_TESTBED_*`` and ``RADIOPS_REGISTRY_PORT`` say."""

    nodes: int = 2
    registry_port: int = 5000
    state_dir: Path = Path(DEFAULT_STATE)
    run_dir: Path = Path(DEFAULT_RUN)
    timeout: int = 60
    podman: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings of ``env`` (default: this process's environment), checked."""
        env = os.environ if env is None else env
        settings = cls(
            nodes=_integer(env, "RADIOPS_TESTBED_NODES", "2", 1, 16, "a number from 1 to 16"),
            registry_port=_integer(
                env, "RADIOPS_REGISTRY_PORT", "5000", 1, 65535, "a TCP port number"
            ),
            state_dir=_directory(env, "RADIOPS_TESTBED_STATE", DEFAULT_STATE),
            run_dir=_directory(env, "RADIOPS_TESTBED_RUN", DEFAULT_RUN),
            timeout=_integer(
                env, "RADIOPS_TESTBED_TIMEOUT", "60", 1, 86400, "a positive number of seconds"
            ),
            podman=env.get("RADIOPS_TESTBED_PODMAN", "") == "1",
        )
        # the longest unix socket dockerd creates under a node's exec root
        longest = settings.run_dir / f"node{settings.nodes}" / "containerd/containerd-debug.sock"
        if len(str(longest)) >= SOCKET_PATH_LIMIT:
            raise SettingsError(
                f"RADIOPS_TESTBED_RUN={settings.run_dir} is too long for unix sockets "
                f"({longest}: {len(str(longest))} characters); "
                "use a short directory such as /run/radiops-testbed"
            )
        return settings

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def testbed_file(self) -> Path:
        return self.state_dir / "testbed.yaml"

    @property
    def registry(self) -> str:
        """The address image names are prefixed with: ``localhost:5000``."""
        return f"localhost:{self.registry_port}"

    @property
    def registry_pidfile(self) -> Path:
        return self.run_dir / "registry.pid"

    @property
    def node_names(self) -> list[str]:
        return [f"node{index}" for index in range(1, self.nodes + 1)]


def _integer(
    env: Mapping[str, str], name: str, default: str, low: int, high: int, what: str
) -> int:
    text = env.get(name, default)
    if re.fullmatch(r"[0-9]{1,6}", text) is None or not low <= int(text) <= high:
        raise SettingsError(f"{name}={text} is not {what}")
    return int(text)


def _directory(env: Mapping[str, str], name: str, default: str) -> Path:
    text = env.get(name, default)
    if not text.startswith("/") or text.rstrip("/") == "" or re.search(r"\s", text):
        raise SettingsError(f"{name}='{text}' must be an absolute path other than / without spaces")
    return Path(text)
