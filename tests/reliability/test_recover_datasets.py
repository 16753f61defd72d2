"""A runner killed while it copies a dataset into its volume: the fill's helper container is
swept by ``radiops recover`` once that runner is gone (not while it lives), and the half-filled
volume is never taken as complete: the next run fills it again.

A real runner (``radiops run``) on the real default engine; only the moment is arranged: the
archive it streams into the volume stops half way, and the runner waits there until killed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from docker.types import Mount

from runner.engine.datasets import DATA_FILE, LABEL, is_complete, volume_name
from tests.testing.repos import add_scenario, commit_all, make_run_repo, radiops, shell_scenario
from tests.testing.testbed_fixtures import PROJECT

pytestmark = pytest.mark.docker

SIZE = 64 << 20
HALF = SIZE // 2

# radiops run, whose archive into the dataset's volume stops after HALF bytes: the runner
# then waits there, mid-fill (the file named by argv[1] says so), until it is killed
PAUSE_MID_FILL = f"""
import sys, time
from pathlib import Path
from docker.models.containers import Container
from runner.cli.app import main

paused = Path(sys.argv[1])
put_archive = Container.put_archive

def put_half(self, path, data):
    if not hasattr(data, "read"):
        return put_archive(self, path, data)
    def chunks():
        sent = 0
        while block := data.read(1 << 20):
            yield block
            sent += len(block)
            if sent >= {HALF} and not paused.exists():
                paused.write_text(str(sent))
                while True:
                    time.sleep(60)
    return put_archive(self, path, chunks())

Container.put_archive = put_half
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture
def content(docker_clients: dict[str, docker.DockerClient]) -> Iterator[bytes]:
    """Fresh bytes (a volume no earlier run filled); their volume is removed afterwards."""
    data = secrets.token_bytes(SIZE)
    yield data
    client = docker_clients["default"]
    name = volume_name(hashlib.sha256(data).hexdigest())
    for container in client.containers.list(all=True, filters={"volume": name}):
        container.remove(force=True)
    with contextlib.suppress(docker.errors.NotFound):
        client.volumes.get(name).remove(force=True)


def helpers(client: docker.DockerClient, sha256: str) -> list[dict[str, Any]]:
    """The engine's list entries of the dataset's fill helpers."""
    found: list[dict[str, Any]] = client.api.containers(
        all=True, filters={"label": f"{LABEL}={sha256}"}
    )
    return found


def stored_bytes(client: docker.DockerClient, image: str, sha256: str) -> int | None:
    """The size of the data file in the dataset's volume (None without one)."""
    mount = Mount(target="/v", source=volume_name(sha256), type="volume", read_only=True)
    looker = client.containers.create(image, ["true"], mounts=[mount], network_mode="none")
    try:
        stream, stat = looker.get_archive(f"/v/{DATA_FILE}")
        for _ in stream:  # read to the end: until then the engine holds the container
            pass
        assert stat is not None
        return int(stat["size"])
    except docker.errors.NotFound:
        return None
    finally:
        looker.remove(force=True)


def test_a_killed_runners_fill_helper_is_swept_and_its_volume_filled_again(
    content: bytes, tmp_path: Path, docker_clients: dict[str, docker.DockerClient]
) -> None:
    client = docker_clients["default"]
    sha256 = hashlib.sha256(content).hexdigest()
    repo = make_run_repo(tmp_path)
    stored = repo / ".radiops" / "artifacts" / "sha256" / sha256[:2] / sha256
    stored.parent.mkdir(parents=True)
    stored.write_bytes(content)
    script = "sha256sum $RADIOPS_INPUT_CAPTURE | cut -d' ' -f1 > $RADIOPS_OUTPUT_DIR/sum.txt"
    text = (
        shell_scenario("stored", script=script)
        + f"    inputs: [{{name: capture, sha256: {sha256}}}]\n"
    )
    add_scenario(repo, "stored", text)
    commit_all(repo, "a scenario reading a large stored dataset")
    paused = tmp_path / "paused"
    runner = subprocess.Popen(
        [sys.executable, "-c", PAUSE_MID_FILL, str(paused), "run", "experiments/stored"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
    )
    try:
        deadline = time.monotonic() + 600
        while not paused.exists() and runner.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert paused.exists(), f"the runner never reached the fill (exit {runner.poll()})"
        # listed only: inspecting a container waits while an archive is copied into it
        (helper,) = helpers(client, sha256)
        image = str(helper["ImageID"])
        # the runner lives: its fill is its own business (and recover does not wait for it)
        began = time.monotonic()
        alive = radiops(repo, "recover", timeout=120)
        assert alive.returncode == 0, alive.stderr
        assert time.monotonic() - began < 60
        assert [each["State"] for each in helpers(client, sha256)] == ["created"]
    finally:
        runner.kill()
        runner.wait(timeout=60)  # reaped: its pid no longer names a process
    left = stored_bytes(client, image, sha256)
    assert left is None or left < SIZE, left  # what the killed runner left: a part at most
    recovered = radiops(repo, "recover", timeout=120)
    assert recovered.returncode == 0, recovered.stderr
    said = recovered.stdout + recovered.stderr
    name = helper["Names"][0].lstrip("/")
    assert f"removed {name}, left by an input's fill whose runner stopped" in said, said
    assert not helpers(client, sha256)
    assert not is_complete(client, sha256, image)  # the half-filled volume is not complete
    # the next run fills the volume again, whole, and reads the right bytes
    again = radiops(repo, "run", "experiments/stored", timeout=600)
    assert again.returncode == 0, again.stderr
    (run_dir,) = (repo / "experiments" / "stored" / "runs").iterdir()
    assert (run_dir / "outputs" / "main-0" / "sum.txt").read_text().strip() == sha256
    assert is_complete(client, sha256, image) and stored_bytes(client, image, sha256) == SIZE
