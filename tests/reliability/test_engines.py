"""An engine that does not answer: its nodes are not used; the run goes elsewhere or says why."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import docker
import pytest

from localtestbed import status
from runner.engine.engines import DEFAULT_TIMEOUT_S
from tests.testing.repos import (
    add_scenario,
    commit_all,
    make_run_repo,
    radiops,
    radiops_started,
    shell_scenario,
)
from tests.testing.testbed_fixtures import Testbed, run_testbed

pytestmark = pytest.mark.docker

TWO = """\
name: pair
description: two containers on two nodes
duration: 30s
roles:
  a: {image: images/tools, command: [sh, -c, "echo a"]}
  b: {image: images/tools, command: [sh, -c, "echo b"]}
"""


def test_an_unreachable_engine_is_skipped_or_named(testbed: Testbed, tmp_path: Path) -> None:
    inventory = (
        "nodes:\n"
        f"  node1:\n    engine: {testbed.node_engines['node1']}\n"
        f"  gone:\n    engine: unix://{tmp_path}/no-engine-here.sock\n"
    )
    repo = make_run_repo(tmp_path, testbed=inventory)
    add_scenario(repo, "one", shell_scenario("one", script="echo one"))
    add_scenario(repo, "pair", TWO)
    commit_all(repo, "scenarios")
    one = radiops(repo, "run", "experiments/one")
    assert one.returncode == 0, one.stderr
    assert "node gone: cannot reach its Docker engine" in one.stderr
    assert "(not used: gone)" in one.stderr
    pair = radiops(repo, "run", "experiments/pair")
    assert pair.returncode == 3, pair.stderr
    assert "pair cannot run on testbed.yaml now" in pair.stderr
    assert "node gone: cannot reach its Docker engine" in pair.stderr
    assert "Traceback" not in pair.stderr
    assert not (repo / "experiments" / "pair" / "runs").exists()


def test_an_engine_stopped_mid_run_is_named_and_leaves_no_orphan(
    testbed: Testbed, tmp_path: Path
) -> None:
    """node2's real dockerd is stopped while its container runs, then started again."""
    inventory = f"nodes:\n  node2:\n    engine: {testbed.node_engines['node2']}\n"
    repo = make_run_repo(tmp_path, testbed=inventory)
    add_scenario(repo, "slow", shell_scenario("slow", script="sleep 60", duration="2m"))
    add_scenario(repo, "one", shell_scenario("one", script="echo one"))
    commit_all(repo, "scenarios")
    assert radiops(repo, "run", "experiments/one").returncode == 0  # image built there
    runner = radiops_started(repo, "run", "experiments/slow")
    client = docker.DockerClient(base_url=testbed.node_engines["node2"], version="auto")
    try:
        deadline = time.monotonic() + 120
        while not client.containers.list(filters={"label": "org.radiops.experiment=slow"}):
            assert time.monotonic() < deadline, "the run's container never started"
            time.sleep(0.2)
    finally:
        client.close()
    engine_pid = status().component("node2").pid
    if engine_pid is None:
        runner.kill()
        runner.communicate()
        pytest.fail("node2's engine was not started by scripts/testbed: it cannot be stopped")
    os.kill(engine_pid, signal.SIGTERM)
    try:
        out, err = runner.communicate(timeout=180)
        assert runner.returncode == 1, out + err
        (run_dir,) = (repo / "experiments/slow/runs").iterdir()
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["outcome"]["status"] == "error"
        assert "node node2: its engine stopped answering" in manifest["outcome"]["reason"]
    finally:
        deadline = time.monotonic() + 120
        while Path(f"/proc/{engine_pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)  # dockerd stops its containers before it exits
        testbed_up = run_testbed("up")
        assert testbed_up.returncode == 0, testbed_up.describe()
    swept = radiops(repo, "recover")  # the engine is back: the run's container is removed
    assert swept.returncode == 0, swept.stderr
    client = docker.DockerClient(base_url=testbed.node_engines["node2"], version="auto")
    try:
        assert (
            client.containers.list(all=True, filters={"label": "org.radiops.experiment=slow"}) == []
        )
    finally:
        client.close()
    again = radiops(repo, "run", "experiments/one")
    assert again.returncode == 0, again.stderr


def client_certificate(where: Path) -> str:
    """A self-signed certificate as ca, cert and key: the inventory's tls block, inline."""
    key, cert = where / "key.pem", where / "cert.pem"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run(
        ["openssl", *request, "-subj", "/CN=radiops-test", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return f"{{ca: {cert}, cert: {cert}, key: {key}}}"


def test_engines_that_never_answer_are_left_out_within_one_bound(
    testbed: Testbed, tmp_path: Path
) -> None:
    """tcp:// endpoints that take the connection and then say nothing, like hung hosts."""
    with socket.socket() as first, socket.socket() as second:
        ports = []
        for silent in (first, second):
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)  # connections complete in the backlog; nothing answers them
            ports.append(silent.getsockname()[1])
        tls = client_certificate(tmp_path)
        inventory = (
            "nodes:\n"
            f"  node1:\n    engine: {testbed.node_engines['node1']}\n"
            f"  hung1:\n    engine: tcp://127.0.0.1:{ports[0]}\n    tls: {tls}\n"
            f"  hung2:\n    engine: tcp://127.0.0.1:{ports[1]}\n    tls: {tls}\n"
        )
        repo = make_run_repo(tmp_path, testbed=inventory)
        add_scenario(repo, "one", shell_scenario("one", script="echo one"))
        commit_all(repo, "scenario")
        began = time.monotonic()
        one = radiops(repo, "run", "experiments/one")
        elapsed = time.monotonic() - began
    assert one.returncode == 0, one.stderr
    for name, port in zip(("hung1", "hung2"), ports, strict=True):
        assert (
            f"node {name}: cannot reach its Docker engine at tcp://127.0.0.1:{port}" in one.stderr
        )
    assert "timed out" in one.stderr
    # both were asked at once: one bound for the two, not one each
    assert DEFAULT_TIMEOUT_S <= elapsed < DEFAULT_TIMEOUT_S + 45, elapsed
