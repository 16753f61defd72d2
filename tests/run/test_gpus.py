"""GPUs: placement (pure), the device request an engine receives, and the clear refusals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from runner.engine.container_spec import container_options
from runner.engine.gpus import check_gpu_engines, granted_gpus, run_gpus
from runner.model.errors import EnvironmentProblem, InvalidInput
from runner.model.experiment import Experiment, load_experiment
from runner.model.gpus import Gpu, GpuShortage, assign_gpus
from runner.model.plan import Instance, RunPlan, expand
from runner.model.schedule import place, unplaceable_reason
from runner.model.testbed import Node
from tests.testing.repos import add_scenario, commit_all, make_run_repo, shell_scenario
from tests.testing.runs import run_here
from tests.testing.testbed_fixtures import DockerCleanup, Testbed

SCENARIO = """\
name: learn
description: a receiver that needs GPUs
duration: 10s
roles:
  train:
    image: images/hello
    gpus: 2
  feed:
    image: images/hello
"""


def gpus(*ids: str) -> tuple[Gpu, ...]:
    return tuple(Gpu(id=i, model="test") for i in ids)


@pytest.fixture
def learn(scenario_in: Callable[[str, str], Path]) -> Experiment:
    return load_experiment(scenario_in("learn", SCENARIO))


def plan_of(experiment: Experiment) -> RunPlan:
    (plan,) = expand(experiment, {})
    return plan


def test_a_role_asking_gpus_goes_only_to_a_node_with_enough(learn: Experiment) -> None:
    nodes = [
        Node(name="small", engine="unix:///a", gpus=gpus("0")),
        Node(name="plain", engine="unix:///a"),
        Node(name="big", engine="unix:///b", gpus=gpus("0", "1", "2")),
    ]
    placement = place(plan_of(learn), nodes)
    assert placement is not None
    chosen = {instance.role: node.name for instance, node in placement.items()}
    assert chosen["train"] == "big"
    assert run_gpus(plan_of(learn), placement)[Instance(role="train", index=0)] == ("0", "1")
    assert run_gpus(plan_of(learn), placement)[Instance(role="feed", index=0)] == ()
    # held by another run, the only node with two GPUs leaves the run unplaced for now
    assert place(plan_of(learn), nodes, busy={"big"}) is None


def test_two_containers_on_one_node_never_get_the_same_gpu() -> None:
    a, b, c = (Instance(role=r, index=0) for r in "abc")
    node_of = {a: "n1", b: "n1", c: "n2"}
    gpus_of = {"n1": gpus("0", "1", "2"), "n2": gpus("GPU-x")}
    assigned = assign_gpus({a: 2, b: 1, c: 1}, node_of, gpus_of)
    assert assigned == {a: ("0", "1"), b: ("2",), c: ("GPU-x",)}
    with pytest.raises(GpuShortage, match="node n1 has 3 GPU"):
        assign_gpus({a: 2, b: 2}, node_of, gpus_of)


def test_no_node_with_enough_gpus_is_a_clear_reason(learn: Experiment) -> None:
    plain = [Node(name="n1", engine="unix:///a"), Node(name="n2", engine="unix:///a")]
    assert unplaceable_reason(plan_of(learn), plain) == (
        "role train asks 2 GPU(s); nodes with GPUs: none; declare them under "
        'nodes.<node>.gpus in testbed.yaml (e.g. gpus: [{id: "0"}])'
    )
    one = [Node(name="n1", engine="unix:///a", gpus=gpus("0")), *plain[1:]]
    reason = unplaceable_reason(plan_of(learn), one)
    assert reason is not None and "nodes with GPUs: n1 (1);" in reason


@pytest.mark.docker
def test_the_engine_receives_exactly_the_assigned_gpus(
    learn: Experiment, testbed: Testbed, docker_cleanup: DockerCleanup
) -> None:
    node = Node(name="gpu-node", engine=testbed.default_engine, gpus=gpus("0", "1", "2"))
    plan = plan_of(learn)
    train = Instance(role="train", index=0)
    options = container_options(plan, "r1", train, node, "debian:bookworm-slim", gpus=("1", "2"))
    options.update(name=docker_cleanup.unique(), labels=docker_cleanup.labels)
    client = docker.DockerClient(base_url=testbed.default_engine, version="auto")
    try:
        container = docker_cleanup.container("default", client.containers.create(**options))
        container.reload()
        (request,) = container.attrs["HostConfig"]["DeviceRequests"]
        assert request["Driver"] == "nvidia"
        assert request["DeviceIDs"] == ["1", "2"]
        assert request["Capabilities"] == [["gpu"]]
        assert granted_gpus(container.attrs) == ["1", "2"]  # what the manifest records
        feed = container_options(plan, "r1", Instance(role="feed", index=0), node, "x")
        assert "device_requests" not in feed
        # this engine has no nvidia runtime: such a container can be created, not started
        with pytest.raises(docker.errors.APIError):
            container.start()
        with pytest.raises(EnvironmentProblem, match="has no nvidia runtime: install the NVIDIA"):
            check_gpu_engines(learn, [node], {node.engine: client})
    finally:
        client.close()


@pytest.mark.docker
def test_radiops_run_refuses_a_gpu_role_before_anything_starts(
    testbed: Testbed, tmp_path: Path
) -> None:
    inventory = (
        "nodes:\n"
        f"  node1:\n    engine: {testbed.default_engine}\n    gpus: [{{id: '0', model: A2}}]\n"
        f"  node2:\n    engine: {testbed.default_engine}\n"
    )
    repo = make_run_repo(tmp_path, testbed=inventory)
    text = shell_scenario("gpu", script="true") + "    gpus: 1\n"
    add_scenario(repo, "gpu", text)
    add_scenario(repo, "two", text.replace("gpus: 1", "gpus: 2").replace("gpu\n", "two\n", 1))
    commit_all(repo, "scenarios asking GPUs")
    with pytest.raises(InvalidInput, match=r"role main asks 2 GPU.*nodes with GPUs: node1 \(1\)"):
        run_here(repo, "two")
    with pytest.raises(EnvironmentProblem, match="node node1, whose engine has no nvidia"):
        run_here(repo, "gpu")
    assert not (repo / "experiments" / "gpu" / "runs").exists()
