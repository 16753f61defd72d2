"""The commands of ``scripts/testbed``: up, down, status, env, image."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass

from localtestbed.component import Launch, launch_all, stop_all
from localtestbed.engines import (
    clean_after_stop,
    default_engine,
    node_engines,
    node_names_on_disk,
    unmount_below,
)
from localtestbed.errors import PROG, TestbedError
from localtestbed.firewall import ensure_rule, remove_rule
from localtestbed.images import ensure_base_image, ensure_suite
from localtestbed.inventory import write_inventory
from localtestbed.layout import BASE_IMAGE, DEFAULT_ENGINE, describe
from localtestbed.podman import podman_node
from localtestbed.probes import engine_answers
from localtestbed.registry import registry
from localtestbed.settings import Settings
from localtestbed.status import components, status

#: seconds to wait for another scripts/testbed holding the lock
LOCK_WAIT_S = 900


@contextlib.contextmanager
def locked(settings: Settings) -> Iterator[None]:
    """One scripts/testbed at a time per testbed (the lock its earlier versions took)."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    with (settings.run_dir / "lock").open("a") as lock:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TestbedError(
                        f"another '{PROG}' is still running (lock {settings.run_dir}/lock)"
                    ) from None
                time.sleep(0.2)
        yield


@dataclass(frozen=True, kw_only=True)
class UpReport:
    """What ``up`` found or did (``scripts/testbed up --json``)."""

    seconds: float
    launches: list[Launch]
    base_image: str
    testbed_file: str | None
    packages: str | None
    podman_forward: str | None = None
    """The Podman node's forwarding rule: ``added`` or ``present``; None without the node."""

    def as_json(self) -> str:
        data = {
            "seconds": round(self.seconds, 3),
            "components": [
                {"name": one.name, "address": one.component.address, "action": one.action}
                | {"pid": one.pid}
                for one in self.launches
            ],
            "base_image": {"image": BASE_IMAGE, "done": self.base_image},
            "testbed_file": self.testbed_file,
            "packages": self.packages,
            "podman_forward": self.podman_forward,
        }
        return json.dumps(data, indent=2)

    def as_text(self, settings: Settings) -> str:
        lines = [
            f"radiops testbed up in {self.seconds:.1f}s "
            f"(state {settings.state_dir}, logs {settings.log_dir})"
        ]
        if self.packages:
            lines.append(f"  {'packages':<15} installed {self.packages}")
        for launch in self.launches:
            lines.append(f"  {launch.name:<15} {launch.component.address} {launch.describe()}")
        lines.append(f"  {'base image':<15} {BASE_IMAGE} {self.base_image}")
        if self.podman_forward:
            lines.append(f"  {'podman forward':<15} iptables rule {self.podman_forward}")
        if self.testbed_file:
            lines.append(f"  {'testbed file':<15} {self.testbed_file}")
        return "\n".join(lines)


def up(settings: Settings, *, only_default: bool) -> UpReport:
    """Start what is missing, wait for it, put the base image everywhere (idempotent)."""
    began = time.monotonic()
    for directory in (settings.state_dir, settings.log_dir, settings.run_dir):
        directory.mkdir(parents=True, exist_ok=True)
    # readable by all: the tests and radiops read testbed.yaml and the sockets' paths
    settings.state_dir.chmod(0o755)
    settings.run_dir.chmod(0o755)
    with locked(settings):
        launches = launch_all(components(settings, only_default=only_default), settings.timeout)
        podman = settings.podman and not only_default
        forward = ensure_rule() if podman else None
        nodes = {} if only_default else dict(describe(settings).node_engines)
        base = ensure_base_image(settings, nodes)
        if not only_default:
            write_inventory(settings, nodes)
    return UpReport(
        seconds=time.monotonic() - began,
        launches=launches,
        base_image=base,
        testbed_file=None if only_default else str(settings.testbed_file),
        packages=os.environ.get("RADIOPS_TESTBED_INSTALLED") or None,
        podman_forward=forward,
    )


def down(settings: Settings, *, purge: bool) -> str:
    """Stop what ``up`` started (never an engine it found running); the line to print."""
    if not settings.run_dir.is_dir() and not settings.state_dir.is_dir():
        return "radiops testbed: nothing to stop"
    with locked(settings):
        nodes = node_engines(settings, node_names_on_disk(settings))
        stopped = [c.name for c in stop_all(nodes)]
        for node in nodes:
            clean_after_stop(settings, node)
        rest = [registry(settings), default_engine(settings)]
        if settings.podman:
            rest.insert(0, podman_node(settings))
        stopped += [c.name for c in stop_all(rest)]
        forward = settings.podman and remove_rule()
    what = " ".join(stopped) or "nothing"
    if forward:
        what += " and removed the Podman node's forwarding rule"
    if not purge:
        return f"radiops testbed down: stopped {what} (data kept in {settings.state_dir})"
    for directory in (settings.run_dir, settings.state_dir):
        unmount_below(directory)
        shutil.rmtree(directory, ignore_errors=True)
    purged = f"{settings.state_dir} and {settings.run_dir}"
    return f"radiops testbed down: stopped {what}; purged {purged}"


def env_lines(settings: Settings) -> str:
    """``export`` lines for scripts (``eval "$(scripts/testbed env)"``)."""
    testbed = describe(settings)
    return "\n".join(
        [
            f"export RADIOPS_TESTBED_FILE='{testbed.testbed_file}'",
            f"export RADIOPS_REGISTRY='{testbed.registry}'",
            f"export RADIOPS_NODE_ENGINES='{' '.join(testbed.node_engines.values())}'",
            f"export RADIOPS_DEFAULT_ENGINE='{testbed.default_engine}'",
        ]
    )


def image(settings: Settings, suite: str) -> str:
    """``image SUITE``: another Debian release's slim image on the default engine."""
    for directory in (settings.state_dir, settings.log_dir, settings.run_dir):
        directory.mkdir(parents=True, exist_ok=True)
    with locked(settings):
        if not engine_answers(DEFAULT_ENGINE):
            raise TestbedError(
                f"the default engine does not answer on {DEFAULT_ENGINE}", f"run '{PROG} up' first"
            )
        return ensure_suite(settings, suite)


def status_exit(settings: Settings, *, as_json: bool) -> tuple[str, int]:
    """The status text or JSON, and the exit code: 0 when everything is up, 3 if not."""
    report = status(settings)
    return (report.as_json() if as_json else report.as_text()), (0 if report.ok else 3)
