"""``radiops run`` on the real engines: what the issue promises, each seen happen."""

from __future__ import annotations

import hashlib
import json
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import docker
import pytest

from tests.testing.repos import (
    add_scenario,
    commit_all,
    copy_from_project,
    make_run_repo,
    radiops,
    radiops_started,
    shell_scenario,
)
from tests.testing.runs import manifest, run_here
from tests.testing.testbed_fixtures import Testbed

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module", autouse=True)
def remove_built_images(testbed: Testbed) -> Iterator[None]:
    yield
    for url in [testbed.default_engine, *testbed.node_engines.values()]:
        client = docker.DockerClient(base_url=url, version="auto")
        for image in client.images.list(filters={"label": "org.radiops.image"}):
            for tag in image.tags:
                client.images.remove(tag, force=True)
        client.close()


def leftovers(engine: str, experiment: str) -> list[str]:
    client = docker.DockerClient(base_url=engine, version="auto")
    try:
        found = client.containers.list(
            all=True, filters={"label": f"org.radiops.experiment={experiment}"}
        )
        return [c.name or c.id or "" for c in found]
    finally:
        client.close()


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_hello_runs_on_the_local_default_and_its_manifest_validates(
    testbed: Testbed, tmp_path: Path
) -> None:
    repo = make_run_repo(tmp_path)
    copy_from_project("experiments/hello", repo / "experiments" / "hello")
    head = commit_all(repo, "add hello")
    result = radiops(repo, "run", "experiments/hello")
    assert result.returncode == 0, result.stderr
    assert "hello#0@local" in result.stderr  # live log lines reach the person
    run_dir = repo / result.stdout.split()[2]
    data = json.loads((run_dir / "manifest.json").read_text())
    assert data["outcome"]["status"] == "succeeded"
    assert data["code"]["commit"] == head and data["code"]["dirty"] is False
    assert data["metrics"] == {"lines": 3.0, "bytes": 45.0}
    greeting = b"hello, testbed\n" * 3
    (output,) = [o for o in data["outputs"] if o["path"] == "greeting.txt"]
    assert output["sha256"] == hashlib.sha256(greeting).hexdigest()
    assert (run_dir / output["storage"]["location"]).read_bytes() == greeting
    assert data["radios_simulated"] is True
    assert data["reproduce"]["command"] == (
        f"radiops reproduce experiments/hello --run {data['run_id']}"
    )
    assert data["images"][0]["image_id"] == data["containers"][0]["image_digest"]
    checked = radiops(repo, "validate")
    assert checked.returncode == 0, checked.stderr
    assert "1 manifest(s)" in checked.stdout
    assert leftovers(testbed.default_engine, "hello") == []

    attested = radiops(repo, "attest", data["run_id"])
    assert attested.returncode == 0, attested.stderr
    statement = json.loads(attested.stdout)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicate"] == data
    names = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    assert set(names) == {
        "hello-0/greeting.txt",
        "hello-0/metrics.json",
        "logs/hello-0.stdout",
        "logs/hello-0.stderr",
    }
    for output in data["outputs"]:
        on_disk = (run_dir / output["storage"]["location"]).read_bytes()
        name = f"hello-0/{output['path']}"
        assert names[name] == hashlib.sha256(on_disk).hexdigest()


def test_a_matrix_of_three_points_runs_in_parallel_on_three_nodes(
    testbed: Testbed, tmp_path: Path
) -> None:
    repo = make_run_repo(tmp_path)
    script = "echo x=$RADIOPS_PARAM_X > $RADIOPS_OUTPUT_DIR/x.txt; sleep 2"
    extra = "parameters:\n  x: {type: integer, default: 0}\nmatrix:\n  x: [1, 2, 3]\n"
    add_scenario(repo, "sweep", shell_scenario("sweep", script=script, extra=extra))
    results, log = run_here(repo, "sweep")
    assert [r.status for r in results] == ["succeeded"] * 3
    assert "sweep: 3 of 3 runs done in " in log  # the sweep's progress, for people and CI
    assert sorted(n for r in results for n in r.nodes) == ["local1", "local2", "local3"]
    for result, x in zip(results, (1, 2, 3), strict=True):
        data = manifest(result)
        assert data["parameters"] == {"x": x} and data["experiment"]["matrix_point"] == {"x": x}
        assert (result.run_dir / "outputs/main-0/x.txt").read_text() == f"x={x}\n"
    # in parallel: each container started (by the engine's clock) before any had finished;
    # one after another, the second would start after the first's 2 s sleep
    spans = [
        (parse_time(c["started"]), parse_time(c["finished"]))
        for r in results
        for c in manifest(r)["containers"]
    ]
    assert len(spans) == 3
    assert max(start for start, _ in spans) < min(end for _, end in spans), spans
    assert len({r.run_id for r in results}) == 3


def test_a_container_that_ignores_the_end_is_killed_at_the_timeout(
    testbed: Testbed, tmp_path: Path
) -> None:
    repo = make_run_repo(tmp_path)
    scenario = shell_scenario(
        "stubborn", script="trap '' TERM; echo started; sleep 60", duration="1s"
    )
    add_scenario(repo, "stubborn", scenario.replace("duration: 1s", "duration: 1s\ntimeout: 3s"))
    start = time.monotonic()
    (result,), _ = run_here(repo, "stubborn")
    assert time.monotonic() - start < 20
    data = manifest(result)
    assert result.status == "timeout"
    usage = data["containers"][0]["resources"]
    assert usage["memory_peak_bytes"] > 0 and usage["pids_peak"] >= 1
    assert data["outcome"]["timed_out"] is True
    assert data["containers"][0]["status"] == "timeout"
    assert data["containers"][0]["exit_code"] is None
    assert "started" in data["logs"][0]["tail"]
    assert leftovers(testbed.default_engine, "stubborn") == []


def test_a_container_stopped_at_the_end_of_its_duration_succeeds(
    testbed: Testbed, tmp_path: Path
) -> None:
    repo = make_run_repo(tmp_path)
    add_scenario(repo, "endless", shell_scenario("endless", script="sleep 60", duration="1s"))
    start = time.monotonic()
    (result,), _ = run_here(repo, "endless")
    assert result.status == "succeeded", result.reason
    # the stop reached the shell (PID 1 ignores SIGTERM without an init in front of it)
    assert time.monotonic() - start < 15


def test_a_failing_container_fails_the_run_with_its_reason(
    testbed: Testbed, tmp_path: Path
) -> None:
    repo = make_run_repo(tmp_path)
    add_scenario(repo, "broken", shell_scenario("broken", script="echo oops >&2; exit 3"))
    commit_all(repo, "broken")
    result = radiops(repo, "run", "experiments/broken")
    assert result.returncode == 1
    assert "exited with code 3" in result.stderr.splitlines()[-1]
    run_dir = repo / result.stdout.split()[2]
    data = json.loads((run_dir / "manifest.json").read_text())
    assert data["outcome"]["status"] == "failed"
    assert data["outcome"]["exit_codes"] == {"main#0": 3}
    stderr_log = next(log for log in data["logs"] if log["stream"] == "stderr")
    assert stderr_log["tail"] == "oops\n"


def test_two_roles_run_together_on_two_engines_with_images_pinned_by_digest(
    testbed: Testbed, tmp_path: Path
) -> None:
    inventory = testbed.testbed_file.read_text()
    repo = make_run_repo(tmp_path, testbed=inventory)
    script = "date +%s.%N > $RADIOPS_OUTPUT_DIR/t; echo $RADIOPS_NODE > $RADIOPS_OUTPUT_DIR/node"
    roles = "roles:\n" + "".join(
        f'  {role}:\n    image: images/tools\n    node: {node}\n    command: [sh, -c, "{script}"]\n'
        for role, node in (("tx", "node1"), ("rx", "node2"))
    )
    add_scenario(repo, "pair", f"name: pair\ndescription: two roles\nduration: 20s\n{roles}")
    (result,), _ = run_here(repo, "pair")
    assert result.status == "succeeded", result.reason
    data = manifest(result)
    engines = {p["node"]: p["engine"]["id"] for p in data["placements"]}
    assert set(engines) == {"node1", "node2"} and engines["node1"] != engines["node2"]
    assert [i["role"] for i in data["images"]] == ["tx", "rx"]
    for record in data["images"]:
        assert record["digest"].startswith("sha256:")
        assert record["ref"] == f"{testbed.registry}/tools@{record['digest']}"
    for role, node in (("tx", "node1"), ("rx", "node2")):
        assert (result.run_dir / f"outputs/{role}-0/node").read_text() == f"{node}\n"
    starts = [float((result.run_dir / f"outputs/{r}-0/t").read_text()) for r in ("tx", "rx")]
    assert abs(starts[0] - starts[1]) < 2.0, "the two roles did not start together"
    for engine in testbed.node_engines.values():
        assert leftovers(engine, "pair") == []


def test_sigterm_mid_run_stops_everything_and_records_a_cancelled_run(
    testbed: Testbed, tmp_path: Path
) -> None:
    repo = make_run_repo(tmp_path)
    add_scenario(
        repo, "long", shell_scenario("long", script="echo begun; sleep 120", duration="5m")
    )
    process = radiops_started(repo, "run", "experiments/long")
    deadline = time.monotonic() + 120
    while not leftovers(testbed.default_engine, "long"):
        assert time.monotonic() < deadline, "the run never started"
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    time.sleep(1)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert leftovers(testbed.default_engine, "long") == []
    (run_dir,) = (repo / "experiments/long/runs").iterdir()
    data = json.loads((run_dir / "manifest.json").read_text())
    assert data["outcome"]["status"] == "cancelled"
    assert data["containers"][0]["status"] in ("cancelled", "exited")
    assert data["timing"]["started"] is not None
    assert data["containers"][0]["resources"]["pids_peak"] >= 1
    assert "begun" in data["logs"][0]["tail"]
    assert "cancelled" in out


def test_two_concurrent_runners_never_share_a_node(testbed: Testbed, tmp_path: Path) -> None:
    repo = make_run_repo(tmp_path)
    add_scenario(repo, "busy", shell_scenario("busy", script="sleep 3"))
    command = ("run", "experiments/busy", "--node", "local2")
    first, second = radiops_started(repo, *command), radiops_started(repo, *command)
    errors = [first.communicate(timeout=120)[1], second.communicate(timeout=120)[1]]
    assert (first.returncode, second.returncode) == (0, 0), errors
    runs = sorted((repo / "experiments/busy/runs").iterdir())
    assert len(runs) == 2
    spans = []
    for run_dir in runs:
        data = json.loads((run_dir / "manifest.json").read_text())
        assert [p["node"] for p in data["placements"]] == ["local2"]
        container = data["containers"][0]
        spans.append((parse_time(container["started"]), parse_time(container["finished"])))
    spans.sort()
    assert spans[0][1] <= spans[1][0], f"the two runs overlapped on local2: {spans}"
    assert any("waiting: local2 held by" in e for e in errors), "\n".join(errors)


def test_hostile_outputs_are_refused_and_nothing_lands_outside_the_run(
    testbed: Testbed, tmp_path: Path
) -> None:
    repo = make_run_repo(tmp_path)
    canary = tmp_path / "canary"
    canary.write_text("untouched")
    script = (
        "cd $RADIOPS_OUTPUT_DIR && echo fine > good.txt && ln -s /etc/passwd passwd-link && "
        "ln -s ../../../canary up-link && mkdir -p deep && ln -s / deep/root && "
        "truncate -s 2G huge.bin && echo done"
    )
    add_scenario(repo, "hostile", shell_scenario("hostile", script=script))
    (result,), _ = run_here(repo, "hostile")
    data = manifest(result)
    assert result.status == "succeeded", result.reason
    assert [o["path"] for o in data["outputs"]] == ["good.txt"]
    warnings = "\n".join(data.get("warnings", []))
    for name in ("passwd-link", "up-link", "deep/root", "huge.bin"):
        assert name in warnings, warnings
    assert "2147483648 bytes" in warnings
    assert canary.read_text() == "untouched"
    for path in result.run_dir.rglob("*"):
        assert not path.is_symlink(), path
        assert path.resolve().is_relative_to(result.run_dir.resolve())
    store = repo / ".radiops" / "artifacts"
    assert not any(p.stat().st_size > 1 << 30 for p in store.rglob("*") if p.is_file())


def test_files_changed_outside_the_output_directory_are_kept_too(
    testbed: Testbed, tmp_path: Path
) -> None:
    repo = make_run_repo(tmp_path)
    script = (
        "echo note > /tmp/note.txt && mkdir -p /var/tmp/deep && echo d > /var/tmp/deep/x && "
        "echo changed >> /etc/issue && echo out > $RADIOPS_OUTPUT_DIR/o.txt"
    )
    add_scenario(repo, "diffs", shell_scenario("diffs", script=script))
    (result,), _ = run_here(repo, "diffs")
    data = manifest(result)
    kept = {o["path"]: o for o in data["outputs"]}
    assert kept["o.txt"].get("origin", "output") == "output"
    for path, content in (
        ("tmp/note.txt", b"note\n"),
        ("var/tmp/deep/x", b"d\n"),
    ):
        assert kept[path]["origin"] == "changed"
        location = result.run_dir / kept[path]["storage"]["location"]
        assert location.read_bytes() == content
        assert location.is_relative_to(result.run_dir / "changes" / "main-0")
    assert kept["etc/issue"]["origin"] == "changed"
    assert b"changed" in (result.run_dir / kept["etc/issue"]["storage"]["location"]).read_bytes()
    # unchanged neighbours of changed files are not copied
    assert "etc/passwd" not in kept and "etc/hostname" not in kept


def test_strict_mode_refuses_a_mutable_tag(testbed: Testbed, tmp_path: Path) -> None:
    repo = make_run_repo(tmp_path)
    scenario = shell_scenario("mutable", script="true").replace(
        "image: images/tools", f"image: {testbed.registry}/radiops-test/mutable:latest"
    )
    add_scenario(repo, "mutable", scenario)
    result = radiops(repo, "run", "experiments/mutable", "--strict")
    assert result.returncode == 1, result.stderr
    assert "radiops pin" in result.stderr and "Traceback" not in result.stderr
    assert not (repo / "experiments/mutable/runs").exists() or not any(
        (repo / "experiments/mutable/runs").iterdir()
    )
