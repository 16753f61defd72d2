"""An engine that does not answer: its nodes are not used; the run goes elsewhere or says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.testing.repos import add_scenario, commit_all, make_run_repo, radiops, shell_scenario
from tests.testing.testbed_fixtures import Testbed

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
