"""Datasets by sha256 on the real engines: fetched once, mounted read-only, a wrong hash refused."""

from __future__ import annotations

import hashlib
import http.server
import secrets
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import docker
import pytest

from runner.engine.datasets import use_stamps, volume_name
from runner.model.errors import InvalidInput
from tests.testing.repos import add_scenario, commit_all, make_run_repo, radiops, shell_scenario
from tests.testing.runs import inspect_while_running, manifest, run_here
from tests.testing.testbed_fixtures import Testbed

pytestmark = pytest.mark.docker

READER = (
    "sha256sum $RADIOPS_INPUT_CAPTURE | cut -d' ' -f1 > $RADIOPS_OUTPUT_DIR/sum.txt; "
    "if touch /radiops/inputs/capture/x 2>/dev/null; then w=1; else w=0; fi; "
    'echo {\\"writable\\": $w} > $RADIOPS_OUTPUT_DIR/metrics.json'
)


class _Served:
    """A local HTTP server for one folder, counting the requests for each path."""

    def __init__(self, folder: Path) -> None:
        self.hits: dict[str, int] = {}
        served = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                served.hits[self.path] = served.hits.get(self.path, 0) + 1
                super().do_GET()

            def log_message(self, *_args: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), partial(Handler, directory=str(folder))
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[_Served]:
    folder = tmp_path / "served"
    folder.mkdir()
    server = _Served(folder)
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def content(testbed: Testbed) -> Iterator[bytes]:
    """Fresh bytes (a volume no earlier run filled); their volume is removed afterwards."""
    data = secrets.token_bytes(300_000)
    yield data
    client = docker.DockerClient(base_url=testbed.default_engine, version="auto")
    try:
        sha256 = hashlib.sha256(data).hexdigest()
        name = volume_name(sha256)
        for stamp, _at in use_stamps(client, sha256):
            stamp.remove()
        for container in client.containers.list(all=True, filters={"volume": name}):
            container.remove(force=True)
        client.volumes.get(name).remove(force=True)
    except docker.errors.NotFound:
        pass
    finally:
        client.close()


def _scenario(name: str, sha256: str, url: str | None, *, script: str = READER) -> str:
    where = f", url: {url}" if url else ""
    text = shell_scenario(name, script=script, extra="metrics: metrics.json\n")
    return text + f"    inputs: [{{name: capture, sha256: {sha256}{where}}}]\n"


def test_a_dataset_by_url_is_fetched_once_and_mounted_read_only_in_two_runs(
    served: _Served, content: bytes, testbed: Testbed, tmp_path: Path
) -> None:
    (tmp_path / "served" / "capture.bin").write_bytes(content)
    sha256 = hashlib.sha256(content).hexdigest()
    repo = make_run_repo(tmp_path)
    add_scenario(repo, "reads", _scenario("reads", sha256, served.url("capture.bin")))
    commit_all(repo, "a scenario reading a dataset")
    logs = []
    for _ in range(2):
        (result,), log = run_here(repo, "reads")
        logs.append(log)
        assert result.status == "succeeded", log
        data = manifest(result)
        assert (result.run_dir / "outputs/main-0/sum.txt").read_text().strip() == sha256
        assert data["metrics"] == {"writable": 0.0}  # the mount is read-only
        (placement,) = data["placements"]
        assert placement["datasets"] == [
            {
                "name": "capture",
                "sha256": sha256,
                "source": "url",
                "url": served.url("capture.bin"),
                "volume": volume_name(sha256),
                "mounted_at": "/radiops/inputs/capture",
            }
        ]
    assert served.hits == {"/capture.bin": 1}  # the second run found the volume complete
    assert "fetched from url" in logs[0] and "fetched" not in logs[1]
    # each run stamped its use (for prune-datasets); the newest stamp replaced the older
    client = docker.DockerClient(base_url=testbed.default_engine, version="auto")
    try:
        (stamp,) = use_stamps(client, sha256)
    finally:
        client.close()
    assert time.time() - stamp[1] < 600


def test_a_dataset_from_the_store_is_used_and_a_broken_fill_is_filled_again(
    content: bytes, testbed: Testbed, tmp_path: Path
) -> None:
    sha256 = hashlib.sha256(content).hexdigest()
    repo = make_run_repo(tmp_path)
    stored = repo / ".radiops" / "artifacts" / "sha256" / sha256[:2] / sha256
    stored.parent.mkdir(parents=True)
    stored.write_bytes(content)
    add_scenario(repo, "stored", _scenario("stored", sha256, None))
    commit_all(repo, "a scenario reading a stored dataset")
    # a fill that broke off: the volume exists, with no data and no completion marker
    client = docker.DockerClient(base_url=testbed.default_engine, version="auto")
    try:
        client.volumes.create(name=volume_name(sha256), labels={"org.radiops.dataset": sha256})
    finally:
        client.close()
    (result,), log = run_here(repo, "stored")
    assert result.status == "succeeded", log
    assert "fetched from store" in log
    assert (result.run_dir / "outputs/main-0/sum.txt").read_text().strip() == sha256
    assert manifest(result)["placements"][0]["datasets"][0]["source"] == "store"


def test_a_wrong_hash_is_refused_before_the_run_starts(
    served: _Served, content: bytes, tmp_path: Path
) -> None:
    (tmp_path / "served" / "capture.bin").write_bytes(content)
    declared = hashlib.sha256(content + b"x").hexdigest()
    repo = make_run_repo(tmp_path)
    add_scenario(repo, "wrong", _scenario("wrong", declared, served.url("capture.bin")))
    commit_all(repo, "a scenario with a wrong hash")
    with pytest.raises(InvalidInput, match=r"input capture: .* has sha256 .* not the declared"):
        run_here(repo, "wrong")
    assert not (repo / "experiments" / "wrong" / "runs").exists()  # no run was started
    # nothing half-fetched is kept: the next attempt fetches again
    with pytest.raises(InvalidInput):
        run_here(repo, "wrong")
    assert served.hits == {"/capture.bin": 2}


def test_a_url_other_than_http_is_refused_by_validation(tmp_path: Path) -> None:
    repo = make_run_repo(tmp_path)
    sha256 = "0" * 64
    text = _scenario("local", sha256, "file:///etc/passwd")
    add_scenario(repo, "local", text)
    checked = radiops(repo, "validate")
    assert checked.returncode != 0
    assert "must be an http:// or https:// URL" in checked.stdout + checked.stderr


def test_a_dataset_is_a_read_only_named_volume_never_a_host_path(
    served: _Served, content: bytes, testbed: Testbed, tmp_path: Path
) -> None:
    (tmp_path / "served" / "capture.bin").write_bytes(content)
    sha256 = hashlib.sha256(content).hexdigest()
    repo = make_run_repo(tmp_path)
    text = _scenario("held", sha256, served.url("capture.bin"), script="sleep 3")
    add_scenario(repo, "held", text)
    commit_all(repo, "a scenario holding a dataset")
    client = docker.DockerClient(base_url=testbed.default_engine, version="auto")
    try:
        attrs, result = inspect_while_running(client, repo, "held")
    finally:
        client.close()
    assert result.status == "succeeded"
    host = attrs["HostConfig"]
    assert not host["Binds"] and not host.get("VolumesFrom")
    assert [(m["Type"], m["Source"], m["Target"], m["ReadOnly"]) for m in host["Mounts"]] == [
        ("volume", volume_name(sha256), "/radiops/inputs/capture", True)
    ]
    (mount,) = attrs["Mounts"]
    assert (mount["Type"], mount["Name"], mount["RW"]) == ("volume", volume_name(sha256), False)
