"""``radiops testbed probe`` on the local multi-engine testbed: real UHD in every node."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.testing.repos import PROJECT, copy_from_project, make_run_repo
from tests.testing.testbed_fixtures import Testbed

pytestmark = pytest.mark.docker


def probe(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner", "testbed", "probe", "--max-age", "0", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
    )


def test_every_node_is_probed_and_a_claimed_radio_that_is_missing_stops_it(
    testbed: Testbed, tmp_path: Path
) -> None:
    inventory = testbed.testbed_file.read_text()
    repo = make_run_repo(tmp_path, testbed=inventory)
    copy_from_project("images/sdr-base", repo / "images" / "sdr-base")
    result = probe(repo)
    assert result.returncode == 0, result.stderr
    for node in testbed.node_engines:
        assert f"{node}: UHD 4." in result.stdout and "no USRP found" in result.stdout

    claimed = inventory.replace(
        "  node1:\n",
        "  node1:\n    radios:\n      - {type: b210, serial: 31ABCDE}\n",
    )
    assert claimed != inventory
    (repo / "testbed.yaml").write_text(claimed)
    result = probe(repo, "node1")
    assert result.returncode == 1
    assert "node1" in result.stderr and "b210" in result.stderr and "31ABCDE" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_simulated_radio_is_found_through_uhd_as_a_role_finds_it(
    testbed: Testbed, tmp_path: Path
) -> None:
    inventory = testbed.testbed_file.read_text()
    simulated = inventory.replace(
        "  node1:\n",
        "  node1:\n    radios:\n      - {type: b210, serial: SIMB210, simulated: true}\n",
    )
    assert simulated != inventory
    repo = make_run_repo(tmp_path, testbed=simulated)
    copy_from_project("images/sdr-base", repo / "images" / "sdr-base")
    result = probe(repo, "node1")
    assert result.returncode == 0, result.stderr
    # images/sdr-base's simulated USRP, found and opened by libuhd in the probe container
    assert "node1: UHD 4." in result.stdout
    assert "simulated (b210, serial SIMB210)" in result.stdout, result.stdout
    assert "does not open" not in result.stdout
