"""``radiops diff`` of real runs of hello on the local engine, and the inventory each run's
image gets: read once per image ID (the engine's events show no container made for an image
already known), stored by sha256, named in the manifest.

The package is added to hello's image without the network: a RUN step appends a stanza to
dpkg's status database, which is what the inventory reads (apt would need a mirror).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from runner.engine.inventory import LABEL
from runner.model.sbom import read_inventory
from tests.testing.repos import commit_all, copy_from_project, git, radiops
from tests.testing.testbed_fixtures import DockerCleanup

pytestmark = pytest.mark.docker

TINY = (
    "RUN printf 'Package: radiops-tiny\\nStatus: install ok installed\\nArchitecture: all\\n"
    "Version: 1.0-1\\nDescription: a package only the status database knows\\n\\n' "
    ">> /var/lib/dpkg/status\n"
)


def run_hello(repo: Path, *args: str) -> tuple[str, dict[str, Any]]:
    result = radiops(repo, "run", "experiments/hello", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    run_id = result.stdout.split()[0]
    path = repo / "experiments/hello/runs" / run_id / "manifest.json"
    return run_id, json.loads(path.read_text())


def inventory_containers(client: docker.DockerClient, since: float) -> int:
    """Containers the engine created to read an inventory since ``since`` (its events)."""
    events = client.events(
        since=int(since) - 1,
        until=int(time.time()) + 1,
        decode=True,
        filters={"type": "container", "event": "create", "label": LABEL},
    )
    return sum(1 for _ in events)


def test_diff_names_parameters_the_added_package_and_the_image(
    tmp_path: Path, docker_clients: dict[str, docker.DockerClient], docker_cleanup: DockerCleanup
) -> None:
    client = docker_clients["default"]
    repo = tmp_path / "repo"
    for part in ("experiments/hello", "images/hello"):
        copy_from_project(part, repo / part)
    (repo / ".gitignore").write_text(".radiops/\n")
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "hello")

    started = time.time()
    first, manifest_a = run_hello(repo)
    (image_a,) = manifest_a["images"]
    inventory = image_a["inventory"]
    assert inventory["format"] == "CycloneDX 1.5" and inventory["packages"] > 50
    store = repo / ".radiops/artifacts"
    document = (store / "sha256" / inventory["sha256"][:2] / inventory["sha256"]).read_bytes()
    assert hashlib.sha256(document).hexdigest() == inventory["sha256"]
    packages = read_inventory(document).packages
    assert ("deb", "base-files", "amd64") in packages or ("deb", "base-files", "arm64") in packages
    index = store / "inventories" / f"{image_a['image_id'].removeprefix('sha256:')}.json"
    assert json.loads(index.read_text())["sha256"] == inventory["sha256"]
    assert inventory_containers(client, started) == 1

    # the same image again, another parameter: the inventory is reused, no container made
    index_written = index.stat().st_mtime_ns
    again = time.time()
    second, manifest_b = run_hello(repo, "--set", "repeat=5")
    assert manifest_b["images"][0]["inventory"] == inventory
    assert inventory_containers(client, again) == 0
    assert index.stat().st_mtime_ns == index_written

    result = radiops(repo, "diff", first, f"hello/{second}")
    assert result.returncode == 0, result.stderr
    assert "repeat" in result.stdout and "3 -> 5" in result.stdout
    assert "images      same" in result.stdout
    (lines,) = [line for line in result.stdout.splitlines() if " lines " in line]
    assert lines.endswith("3 -> 5  (+2, beyond tolerance ±0)"), result.stdout

    # a package added to the image: a new image ID, its own inventory
    dockerfile = repo / "images/hello/Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("USER 65534", TINY + "USER 65534"))
    commit_all(repo, "hello: one more package")
    later = time.time()
    third, manifest_c = run_hello(repo, "--set", "repeat=5")
    (image_c,) = manifest_c["images"]
    docker_cleanup.image(image_c["ref"])
    assert image_c["image_id"] != image_a["image_id"]
    assert image_c["inventory"]["packages"] == inventory["packages"] + 1
    assert inventory_containers(client, later) == 1

    result = radiops(repo, "diff", second, third)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "code        commit" in out
    assert "file images/hello/Dockerfile  modified" in out
    assert "hello image ID" in out and image_c["image_id"][:19] in out
    assert "hello deb radiops-tiny (all)  (none) -> 1.0-1" in out
    assert "parameters  same" in out

    result = radiops(repo, "diff", "--json", second, third)
    data = json.loads(result.stdout)
    images = next(s for s in data["sections"] if s["section"] == "images")
    assert {
        "key": "hello deb radiops-tiny (all)",
        "a": None,
        "b": "1.0-1",
        "change": "added",
        "detail": "",
    } in images["items"]
