"""The local testbed is real: distinct engines, a base image, a registry that pins by digest."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
import uuid
from pathlib import Path

import docker
import docker.errors
import pytest
import yaml

from localtestbed import Settings, status
from runner.model.testbed import read_testbed
from tests.testing.testbed_fixtures import (
    BASE_IMAGE,
    DockerCleanup,
    Testbed,
    describe_testbed,
    run_testbed,
)

pytestmark = pytest.mark.docker

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)


def test_engines_are_distinct_and_answer(
    testbed: Testbed, docker_clients: dict[str, docker.DockerClient]
) -> None:
    assert set(docker_clients) == {"default", *testbed.node_engines}
    assert testbed.node_engines, "the testbed has no node engines"
    ids: dict[str, str] = {}
    roots: dict[str, str] = {}
    for name, client in docker_clients.items():
        version = client.version()
        assert version["ApiVersion"], name
        info = client.info()
        ids[name] = info["ID"]
        roots[name] = info["DockerRootDir"]
    assert len(set(ids.values())) == len(ids), f"engines share an ID: {ids}"
    assert len(set(roots.values())) == len(roots), f"engines share a data root: {roots}"


def test_base_image_on_every_engine_runs_python(
    docker_clients: dict[str, docker.DockerClient], docker_cleanup: DockerCleanup
) -> None:
    image_ids = {}
    for name, client in docker_clients.items():
        image_ids[name] = client.images.get(BASE_IMAGE).id
        output = client.containers.run(
            BASE_IMAGE,
            ["python3", "-c", "print(42)"],
            network_mode="none",
            remove=True,
            labels=docker_cleanup.labels,
        )
        assert output == b"42\n", name
    # Copied by docker save | docker load: the same image everywhere.
    assert len(set(image_ids.values())) == 1, image_ids


def registry_manifest(testbed: Testbed, repository: str, tag: str) -> tuple[str, bytes]:
    """The Docker-Content-Digest header and the body of the registry's manifest for a tag."""
    request = urllib.request.Request(  # noqa: S310 (loopback registry)
        f"{testbed.registry_url}/v2/{repository}/manifests/{tag}",
        headers={"Accept": ", ".join(MANIFEST_TYPES)},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return response.headers["Docker-Content-Digest"], response.read()


def test_image_pinned_by_digest_moves_between_engines(
    testbed: Testbed,
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
    tmp_path: Path,
) -> None:
    token = uuid.uuid4().hex
    repository = f"radiops-test/{docker_cleanup.unique('digest')}"
    name = f"{testbed.registry}/{repository}"
    tagged = docker_cleanup.image(f"{name}:t")
    (tmp_path / "Dockerfile").write_text(
        f'FROM {BASE_IMAGE}\nRUN echo {token} > /token.txt\nCMD ["cat", "/token.txt"]\n',
        encoding="utf-8",
    )

    default = docker_clients["default"]
    built, _log = default.images.build(
        path=str(tmp_path),
        tag=tagged,
        network_mode="none",
        rm=True,
        forcerm=True,
        labels=docker_cleanup.labels,
    )
    for line in default.images.push(name, tag="t", stream=True, decode=True):
        assert "error" not in line, line
    built.reload()
    pins = [pin for pin in built.attrs["RepoDigests"] if pin.startswith(f"{name}@sha256:")]
    assert len(pins) == 1, built.attrs["RepoDigests"]
    pinned = docker_cleanup.image(pins[0])
    digest = pinned.split("@", 1)[1]
    docker_cleanup.manifest(repository, digest)

    # The registry serves the same digest for the tag, and it is the manifest's hash.
    header, body = registry_manifest(testbed, repository, "t")
    assert header == digest
    assert f"sha256:{hashlib.sha256(body).hexdigest()}" == digest

    # The last node (node2) never saw the build: it gets the image by digest only.
    target = sorted(testbed.node_engines, key=lambda node: (len(node), node))[-1]
    node = docker_clients[target]
    for reference in (tagged, pinned):
        with pytest.raises(docker.errors.ImageNotFound):
            node.images.get(reference)
    pulled = node.images.pull(pinned)
    assert pinned in pulled.attrs["RepoDigests"]
    assert pulled.id == built.id  # same config, same image ID
    output = node.containers.run(
        pinned, network_mode="none", remove=True, labels=docker_cleanup.labels
    )
    assert output.decode().strip() == token


def test_generated_testbed_file_lists_the_node_engines(testbed: Testbed) -> None:
    data = yaml.safe_load(testbed.testbed_file.read_text(encoding="utf-8"))
    assert data["nodes"] == {
        name: {"engine": url, "tags": ["local"]} for name, url in testbed.node_engines.items()
    }
    assert data["registry"] == {"address": testbed.registry, "insecure": True}
    _, loaded, problems = read_testbed(testbed.testbed_file)
    assert problems == []
    assert loaded is not None and set(loaded.nodes) == set(testbed.node_engines)


#: a warm `up` (everything already running) asks each component once and starts nothing
WARM_UP_BUDGET_S = 1.0


def test_up_again_is_idempotent_and_fast(
    testbed: Testbed, docker_clients: dict[str, docker.DockerClient]
) -> None:
    ids_before = {name: client.info()["ID"] for name, client in docker_clients.items()}
    pids_before = {c.name: c.pid for c in status().components}
    start = time.monotonic()
    result = run_testbed("up", "--json")
    seconds = time.monotonic() - start
    print(f"second `scripts/testbed up`: {seconds:.2f}s\n{result.output}")
    assert result.returncode == 0, result.describe()
    report = json.loads(result.output)
    # Everything was already there: nothing started, built or loaded again.
    actions = {c["name"]: c["action"] for c in report["components"]}
    assert actions == dict.fromkeys(
        ["default engine", *testbed.node_engines, "registry"], "running"
    )
    assert {c["name"]: c["pid"] for c in report["components"]} == pids_before
    assert report["base_image"] == {"image": BASE_IMAGE, "done": "present on every engine"}
    assert report["testbed_file"] == str(testbed.testbed_file)
    assert seconds < WARM_UP_BUDGET_S, f"a warm `up` took {seconds:.2f}s"

    assert describe_testbed() == testbed
    assert {name: client.info()["ID"] for name, client in docker_clients.items()} == ids_before
    for client in docker_clients.values():
        client.images.get(BASE_IMAGE)


def test_status_and_env_say_the_same_as_the_python_api(testbed: Testbed) -> None:
    result = run_testbed("status", "--json", timeout=60)
    assert result.returncode == 0, result.describe()
    shown = json.loads(result.output)
    assert shown["ok"] is True
    report = status(Settings.from_env())
    assert report.ok
    assert [(c["name"], c["address"], c["state"]) for c in shown["components"]] == [
        (c.name, c.address, c.state) for c in report.components
    ]
    addresses = {c.name: c.address for c in report.components}
    assert addresses == {
        "default engine": testbed.default_engine,
        **testbed.node_engines,
        "registry": testbed.registry,
    }
    assert shown["testbed_file"] == {"path": str(testbed.testbed_file), "present": True}
    env = run_testbed("env", "--json", timeout=60)
    assert env.returncode == 0, env.describe()
    assert json.loads(env.output) == testbed.as_json()
