"""The local testbed for tests: real Docker engines and a registry (scripts/testbed,
whose Python side is the ``localtestbed`` package: tests read it, not its text).

Fixtures:

* ``testbed`` (session): runs ``scripts/testbed up`` once and describes what is
  running. A failing ``up`` fails every test that needs it, with the script's
  output: the testbed is never silently skipped.
* ``docker_clients`` (session): a ``docker.DockerClient`` for ``"default"`` and
  for each node engine.
* ``docker_cleanup`` (function): labels for what a test creates, and tracking
  of image references, containers and registry manifests; everything is
  removed from every engine when the test ends.
* ``fresh_engine`` (function): a Docker engine of its own, started for one
  test with an empty image store and no registry configured, stopped and
  deleted afterwards: "another machine" (the testbed's own node-engine
  component, ``localtestbed.engines.dockerd_engine``).
* ``no_run_left_behind`` (autouse, tests marked ``docker``): after the test,
  no run container (a node's reservation) or channel emulator and network is
  left on any engine. One that is left is removed and fails the test that left
  it, rather than making a later test wait for a node that never frees up.

Tests that use them are marked ``docker`` automatically (and should say
``pytestmark = pytest.mark.docker`` themselves), so ``-m "not docker"`` runs
the rest of the suite on a machine without the testbed.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shlex
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
import pytest
from docker.models.containers import Container

from localtestbed import Settings, Testbed, describe
from localtestbed.engines import dockerd_engine
from localtestbed.errors import TestbedError
from localtestbed.layout import BASE_IMAGE
from tests.testing.repos import PROJECT

TESTBED_SCRIPT = PROJECT / "scripts" / "testbed"
__all__ = ["BASE_IMAGE", "PROJECT", "Testbed"]
#: where scripts/testbed keeps the registry's pid (RADIOPS_TESTBED_RUN, as the script reads it)
REGISTRY_PIDFILE = Settings.from_env().registry_pidfile
#: ``scripts/testbed up`` builds the base image with mmdebstrap on a cold machine.
UP_TIMEOUT = 1800.0

#: Every container and image a test creates carries these labels.
SESSION_LABEL = "radiops.test.session"
CASE_LABEL = "radiops.test.case"
SESSION_ID = uuid.uuid4().hex[:12]

TESTBED_FIXTURES = frozenset({"testbed", "docker_clients", "docker_cleanup", "fresh_engine"})


@dataclass(frozen=True, kw_only=True)
class ScriptResult:
    """One run of scripts/testbed: exit status and combined stdout/stderr."""

    args: tuple[str, ...]
    returncode: int
    output: str

    def describe(self) -> str:
        command = shlex.join(["scripts/testbed", *self.args])
        return f"`{command}` exited with {self.returncode}:\n{self.output}"


def run_testbed(*args: str, timeout: float = UP_TIMEOUT) -> ScriptResult:
    """Run scripts/testbed with ``args``; never raises on a non-zero exit."""
    try:
        completed = subprocess.run(
            ["bash", str(TESTBED_SCRIPT), *args],
            cwd=PROJECT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
            env=os.environ.copy(),
        )
    except subprocess.TimeoutExpired as exc:
        partial = exc.output if isinstance(exc.output, str) else (exc.output or b"").decode()
        return ScriptResult(
            args=args, returncode=-1, output=f"timed out after {timeout}s\n{partial}"
        )
    return ScriptResult(args=args, returncode=completed.returncode, output=completed.stdout)


def describe_testbed() -> Testbed:
    """The testbed this environment's settings describe (does not start anything)."""
    return describe(Settings.from_env())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the testbed fixtures with ``docker``."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & TESTBED_FIXTURES and item.get_closest_marker("docker") is None:
            item.add_marker(pytest.mark.docker)


@pytest.fixture
def fresh_engine(testbed: Testbed, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty Docker engine (``unix://``), removed when the test ends."""
    name = f"fresh-{uuid.uuid4().hex[:8]}"
    run = Path("/run") / f"radiops-{name}"  # short: dockerd's sockets live below it
    data = tmp_path / "fresh-engine"
    engine = dockerd_engine(name=name, run_dir=run, data_dir=data, log=data / "dockerd.log")
    try:
        try:
            engine.launch().wait_ready(timeout=120)
        except TestbedError as exc:
            pytest.fail(f"a fresh engine did not start:\n{exc.render()}", pytrace=False)
        yield engine.address
    finally:
        engine.stop()
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(run, ignore_errors=True)


#: what the runner labels every run container, channel emulator and network with
RUN_LABEL = "org.radiops.run"


@pytest.fixture(autouse=True)
def no_run_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves a run's containers or networks on an engine."""
    if request.node.get_closest_marker("docker") is None:
        yield
        return
    clients: dict[str, docker.DockerClient] = request.getfixturevalue("docker_clients")
    yield
    left: list[str] = []
    for engine, client in clients.items():
        for container in client.containers.list(all=True, filters={"label": RUN_LABEL}):
            left.append(f"{engine}: container {container.name} ({container.status})")
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
        for network in client.networks.list(filters={"label": RUN_LABEL}):
            left.append(f"{engine}: network {network.name}")
            with contextlib.suppress(docker.errors.NotFound):
                network.remove()
    if left:
        pytest.fail("the test left runs behind (now removed):\n" + "\n".join(left), pytrace=False)


@pytest.fixture(scope="session")
def testbed() -> Testbed:
    """Start (or find running) the local testbed; fail loudly when it cannot."""
    result = run_testbed("up")
    if result.returncode != 0:
        pytest.fail(f"the local testbed is not available: {result.describe()}", pytrace=False)
    return describe_testbed()


def open_client(url: str) -> docker.DockerClient:
    # The SDK's default API version is newer than Debian's Engine 20.10 (API
    # 1.41) accepts: negotiate.
    return docker.DockerClient(base_url=url, version="auto", timeout=300)


@pytest.fixture(scope="session")
def docker_clients(testbed: Testbed) -> Iterator[dict[str, docker.DockerClient]]:
    """A client per engine: ``"default"`` and each node; closed at session end."""
    clients: dict[str, docker.DockerClient] = {}
    try:
        for name, url in testbed.engines.items():
            clients[name] = open_client(url)
        yield clients
        # Safety net: anything this session labelled and a test left behind.
        leftovers = remove_labelled(clients, f"{SESSION_LABEL}={SESSION_ID}")
        if leftovers:
            pytest.fail("could not clean up:\n" + "\n".join(leftovers), pytrace=False)
    finally:
        for client in clients.values():
            client.close()


def remove_labelled(clients: Mapping[str, docker.DockerClient], label: str) -> list[str]:
    """Remove containers, then images, that carry ``label`` on every engine; the errors."""
    errors: list[str] = []
    for name, client in clients.items():
        for container in client.containers.list(all=True, filters={"label": label}):
            try:
                container.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                errors.append(f"{name}: container {container.short_id}: {exc}")
        for image in client.images.list(filters={"label": label}):
            try:
                if image.id:
                    client.images.remove(image.id, force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                errors.append(f"{name}: image {image.short_id}: {exc}")
    return errors


@dataclass(kw_only=True)
class DockerCleanup:
    """What one test creates on the testbed, removed from every engine afterwards.

    Put :attr:`labels` on containers and builds; register image references
    (tags, ``repo@sha256:`` pins) with :meth:`image`, containers created
    without the labels with :meth:`container`, and pushed manifests with
    :meth:`manifest`.
    """

    clients: Mapping[str, docker.DockerClient]
    registry_url: str
    case_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    images: list[str] = field(default_factory=list)
    containers: list[tuple[str, str]] = field(default_factory=list)
    manifests: list[tuple[str, str]] = field(default_factory=list)
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def labels(self) -> dict[str, str]:
        return {SESSION_LABEL: SESSION_ID, CASE_LABEL: self.case_id}

    def unique(self, prefix: str = "radiops-test") -> str:
        """A name no other test (or session) uses: lowercase, usable in image names."""
        return f"{prefix}-{self.case_id}-{next(self._counter)}"

    def image(self, reference: str) -> str:
        """Remove ``reference`` (tag or digest pin) from every engine afterwards."""
        self.images.append(reference)
        return reference

    def container(self, engine: str, container: Container) -> Container:
        """Remove ``container`` (on engine ``engine``) afterwards."""
        self.containers.append((engine, container.id or ""))
        return container

    def manifest(self, repository: str, digest: str) -> None:
        """Delete ``repository@digest`` from the registry afterwards."""
        self.manifests.append((repository, digest))

    def cleanup(self) -> list[str]:
        """Remove everything; returns what could not be removed."""
        errors: list[str] = []
        for engine, container_id in self.containers:
            try:
                self.clients[engine].containers.get(container_id).remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                errors.append(f"{engine}: container {container_id[:12]}: {exc}")
        errors += remove_labelled(self.clients, f"{CASE_LABEL}={self.case_id}")
        for reference in self.images:
            for engine, client in self.clients.items():
                try:
                    client.images.remove(reference, force=True)
                except docker.errors.NotFound:
                    pass
                except docker.errors.APIError as exc:
                    errors.append(f"{engine}: image {reference}: {exc}")
        for repository, digest in self.manifests:
            request = urllib.request.Request(  # noqa: S310 (loopback registry)
                f"{self.registry_url}/v2/{repository}/manifests/{digest}", method="DELETE"
            )
            try:
                with urllib.request.urlopen(request, timeout=30):  # noqa: S310
                    pass
            except urllib.error.HTTPError as exc:
                if exc.code != 404:
                    errors.append(f"registry: {repository}@{digest}: HTTP {exc.code}")
            except OSError as exc:
                errors.append(f"registry: {repository}@{digest}: {exc}")
        return errors


@pytest.fixture
def docker_cleanup(
    testbed: Testbed, docker_clients: dict[str, docker.DockerClient]
) -> Iterator[DockerCleanup]:
    """Track what the test creates; remove it from every engine when the test ends."""
    tracker = DockerCleanup(clients=docker_clients, registry_url=testbed.registry_url)
    yield tracker
    errors = tracker.cleanup()
    if errors:
        pytest.fail("could not clean up:\n" + "\n".join(errors), pytrace=False)
