"""``radiops shell`` without an engine: the container a session gets against a run's, who the
labels say holds a node, the one-role plan, and the refusals before any engine is asked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runner.engine.container_spec import (
    LABEL_PREFIX,
    container_options,
    held_by,
    session_options,
)
from runner.model.errors import UsageError
from runner.model.experiment import Experiment, load_experiment
from runner.model.plan import Instance, expand
from runner.model.testbed import Node
from runner.pipeline.session import shell_plan
from tests.testing.repos import make_run_repo, radiops

SCENARIO = """\
name: link
description: two roles
duration: 10s
parameters:
  gain:
    type: number
    default: 3
roles:
  tx:
    image: images/hello
    command: [sh, -c, "echo tx"]
    count: 2
    env: {MODE: send}
  rx:
    image: images/hello
"""

POSTURE = (
    "cap_drop",
    "cap_add",
    "security_opt",
    "privileged",
    "devices",
    "ipc_mode",
    "init",
    "network_mode",
    "pids_limit",
    "mem_limit",
    "memswap_limit",
    "name",
    "image",
)


@pytest.fixture
def link(scenario_in: Callable[[str, str], Path]) -> Experiment:
    return load_experiment(scenario_in("link", SCENARIO))


def test_a_session_container_has_the_runs_posture_and_a_terminal(link: Experiment) -> None:
    (plan,) = expand(link, {})
    node = Node(name="node1", engine="unix:///a", capabilities=("NET_RAW",))
    run = container_options(plan, "s1", Instance(role="tx", index=0), node, "sha256:abc")
    shell = session_options(
        run, session_id="s1", user="ada", until="2026-12-04T14:30:00.000Z", program="/bin/bash"
    )
    assert {key: shell.get(key) for key in POSTURE} == {key: run.get(key) for key in POSTURE}
    assert shell["cap_drop"] == ["ALL"] and shell["name"] == "radiops-node-node1"
    assert shell["environment"] == run["environment"]
    assert shell["environment"]["MODE"] == "send"
    assert shell["environment"]["RADIOPS_PARAM_GAIN"] == "3"
    assert shell["tty"] is True and shell["stdin_open"] is True
    assert shell["entrypoint"] == ["/bin/bash"] and "command" not in shell
    assert LABEL_PREFIX + "run" not in shell["labels"]  # radiops recover leaves it alone
    assert shell["labels"][LABEL_PREFIX + "session"] == "s1"
    assert shell["labels"][LABEL_PREFIX + "user"] == "ada"
    assert shell["labels"][LABEL_PREFIX + "until"] == "2026-12-04T14:30:00.000Z"
    assert "tty" not in run and run["labels"][LABEL_PREFIX + "run"] == "s1"  # not changed


def test_the_holder_says_a_run_or_whose_shell() -> None:
    run = {LABEL_PREFIX + "run": "r1", LABEL_PREFIX + "experiment": "hello"}
    assert held_by(run) == "run r1 of hello"
    session = {
        LABEL_PREFIX + "session": "s1",
        LABEL_PREFIX + "user": "ada",
        LABEL_PREFIX + "experiment": "tone-link",
        LABEL_PREFIX + "role": "rx",
    }
    assert held_by(session) == "shell of ada for tone-link/rx"


def test_a_shell_plan_has_one_container_of_the_role(link: Experiment) -> None:
    plan = shell_plan(link, "tx")
    assert plan.instances == (Instance(role="tx", index=0),)
    assert plan.parameters == {"gain": 3}
    with pytest.raises(UsageError, match=r"link has no role 'tz' \(its roles: tx, rx\)"):
        shell_plan(link, "tz")


def test_without_a_terminal_it_says_to_run_it_from_one(tmp_path: Path) -> None:
    repo = make_run_repo(tmp_path)
    result = radiops(repo, "shell", "experiments/none", "main", timeout=60)
    assert result.returncode == 2, result.stderr
    assert "needs a terminal" in result.stderr and "run it from a terminal" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_wrong_duration_is_a_clear_usage_error(tmp_path: Path) -> None:
    repo = make_run_repo(tmp_path)
    result = radiops(repo, "shell", "experiments/none", "main", "--for", "soon", timeout=60)
    assert result.returncode == 2, result.stderr
    assert "--for soon" in result.stderr and "e.g. --for 90s" in result.stderr
    assert "Traceback" not in result.stderr
