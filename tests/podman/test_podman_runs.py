"""hello and tone-link, unchanged, on a Podman node (issue 17, item 6).

A Podman node of its own (Podman's Docker-compatible API, the local testbed's
``localtestbed.podman`` component) with the testbed's registry: images are
built on it, pushed, and pinned by the digest the registry serves, which
another node (a Docker engine) then pulls. Its run containers pass the same
hardening assertions as on Docker nodes (tests/security/test_containment.py),
read in one vocabulary (runner/engine/engine_kind.py). The rules themselves,
with an unsupported Podman refused at connect time: tests/podman/test_engine_kind.py.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from localtestbed import Settings
from localtestbed.engines import unmount_below
from localtestbed.firewall import rule_status
from localtestbed.images import copy_image
from localtestbed.podman import podman_node
from runner.engine.engine_kind import PODMAN
from runner.engine.registry import pull_pinned
from tests.testing.hardening import assert_cannot_escalate
from tests.testing.repos import (
    add_scenario,
    commit_all,
    copy_from_project,
    git,
    make_run_repo,
    radiops,
    shell_scenario,
)
from tests.testing.runs import inspect_while_running
from tests.testing.testbed_fixtures import Testbed

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def bridged_traffic() -> None:
    """Containers on one Podman network reach each other: ``scripts/testbed up`` with
    RADIOPS_TESTBED_PODMAN=1 put the forwarding rule in this host's firewall
    (localtestbed/firewall.py says why Docker's FORWARD policy needs it)."""
    found = rule_status()
    if found.state != "present":
        pytest.fail(
            f"the Podman node's forwarding rule is {found.state} {found.detail}: "
            "run 'RADIOPS_TESTBED_PODMAN=1 scripts/testbed up' (it adds it)"
        )


@pytest.fixture(scope="module")
def podman_engine(testbed: Testbed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a Podman node with its own state, using the testbed's registry."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed: RADIOPS_TESTBED_PODMAN=1 scripts/testbed up")
    run = Path("/run") / f"radiops-pm-{uuid.uuid4().hex[:8]}"
    port = int(testbed.registry.rsplit(":", 1)[1])
    settings = Settings(
        state_dir=tmp_path_factory.mktemp("podman") / "state", run_dir=run, registry_port=port
    )
    node = podman_node(settings)
    try:
        node.launch().wait_ready(timeout=60)
        copy_image(settings, "podman", node.address)
        yield node.address
    finally:
        node.stop()
        for directory in (run, settings.state_dir):
            unmount_below(directory)
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def podman_client(podman_engine: str) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=podman_engine, version="auto", timeout=300)
    yield client
    client.close()


def podman_testbed(testbed: Testbed, engine: str, *nodes: str, radio: bool = False) -> str:
    """A testbed.yaml naming only nodes on the Podman engine (``radio``: a simulated one each)."""
    radios = "    radios: [{type: sim, serial: SIM%d, simulated: true}]\n" if radio else ""
    text = "nodes:\n" + "".join(
        f"  {name}:\n    engine: {engine}\n" + (radios % index if radio else "")
        for index, name in enumerate(nodes, 1)
    )
    return text + f"registry:\n  address: {testbed.registry}\n  insecure: true\n"


def manifests(repo: Path, experiment: str) -> list[dict[str, Any]]:
    runs = sorted((repo / "experiments" / experiment / "runs").glob("*/manifest.json"))
    return [json.loads(path.read_text()) for path in runs]


def changed(manifest: dict[str, Any]) -> list[str]:
    return sorted(o["path"] for o in manifest["outputs"] if o.get("origin") == "changed")


WRITER = shell_scenario(
    "writer",
    script="grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; echo mine > /etc/mine; sleep 4",
    duration="30s",
)


def test_a_run_container_on_podman_has_the_hardening_of_a_docker_node(
    testbed: Testbed, podman_engine: str, podman_client: docker.DockerClient, tmp_path: Path
) -> None:
    repo = make_run_repo(tmp_path, testbed=podman_testbed(testbed, podman_engine, "pod1"))
    add_scenario(repo, "writer", WRITER)
    commit_all(repo, "writer")
    attrs, result = inspect_while_running(podman_client, repo, "writer")
    assert_cannot_escalate(attrs, cap_add=None, kind=PODMAN)
    assert attrs["HostConfig"]["NetworkMode"] == "none"
    assert result.status == "succeeded", result.reason
    (manifest,) = manifests(repo, "writer")
    assert manifest["placements"][0]["engine"]["kind"] == PODMAN
    tail = manifest["logs"][0]["tail"]
    assert "CapEff:\t0000000000000000" in tail and "NoNewPrivs:\t1" in tail
    # what the experiment wrote to /etc is kept; what Podman injects there is not
    assert changed(manifest) == ["etc/mine"]
    assert not any("links are not kept" in w for w in manifest.get("warnings", []))


def test_hello_runs_unchanged_on_podman_and_its_pin_is_pulled_by_a_docker_node(
    testbed: Testbed,
    podman_engine: str,
    docker_clients: dict[str, docker.DockerClient],
    tmp_path: Path,
) -> None:
    repo = make_run_repo(tmp_path, testbed=podman_testbed(testbed, podman_engine, "pod1"))
    copy_from_project("experiments/hello", repo / "experiments" / "hello")
    commit_all(repo, "hello")
    result = radiops(repo, "run", "experiments/hello", "--node", "pod1")
    assert result.returncode == 0, result.stdout + result.stderr
    (manifest,) = manifests(repo, "hello")
    assert manifest["outcome"]["status"] == "succeeded"
    assert manifest["placements"][0]["engine"]["kind"] == PODMAN
    assert "greeting.txt" in {o["path"] for o in manifest["outputs"]}
    assert changed(manifest) == []  # an idle /etc captures nothing
    assert "not kept" not in result.stdout + result.stderr
    (image,) = manifest["images"]
    pinned = image["ref"]
    assert pinned == f"{testbed.registry}/hello@{image['digest']}"
    # the pin names what the registry serves: another engine gets exactly that image
    other = docker_clients["node1"]
    try:  # pull_pinned refuses an image that does not carry exactly that digest
        assert pull_pinned(other, pinned, progress=lambda _line: None).startswith("sha256:")
    finally:
        other.images.remove(pinned, force=True)


@pytest.mark.usefixtures("bridged_traffic")
def test_tone_link_runs_unchanged_on_podman(
    testbed: Testbed, podman_engine: str, tmp_path: Path
) -> None:
    repo = tmp_path / "radio-lab"
    for name in ("sdr-base", "channel", "tone-link"):
        copy_from_project(f"images/{name}", repo / "images" / name)
    copy_from_project("experiments/tone-link", repo / "experiments" / "tone-link")
    inventory = podman_testbed(testbed, podman_engine, "pod1", "pod2", radio=True)
    (repo / "testbed.yaml").write_text(inventory)
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "tone-link on Podman")
    result = radiops(repo, "run", "experiments/tone-link", timeout=3600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    (manifest,) = manifests(repo, "tone-link")
    assert manifest["outcome"]["status"] == "succeeded"
    assert {p["engine"]["kind"] for p in manifest["placements"]} == {PODMAN}
    assert all(p["radio"]["simulated"] for p in manifest["placements"])
    wanted = manifest["parameters"]["tone_offset"]
    assert abs(manifest["metrics"]["frequency_offset_hz"] - wanted) <= 0.01 * abs(wanted)
    (recording,) = [o for o in manifest["outputs"] if o["sigmf"]]
    assert recording["sigmf"]["num_samples"] == manifest["parameters"]["capture_samples"]
    assert changed(manifest) == [] and "not kept" not in output
    # on Podman the emulator's network was checked before the radios started
    assert "its network reaches it (checked)" in output
