"""Runs on simulated radios (the simulated USRP of images/sdr-base) and what they report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runner.engine.container_spec import SIMULATED_UHD_MODULES
from tests.testing.repos import radiops

# What radiops gives a simulated role whose node's radio testbed.yaml describes as
# {type: b210, serial: 3141ABC, args: "addr=192.168.10.2", simulated: true}
SIMULATED_B210 = {
    "UHD_MODULE_PATH": SIMULATED_UHD_MODULES,
    "RADIOPS_RADIO_SIMULATED": "true",
    "RADIOPS_RADIO_TYPE": "b210",
    "RADIOPS_RADIO_SERIAL": "3141ABC",
    "RADIOPS_NODE": "bench-3",
    "UHD_ARGS": "addr=192.168.10.2",
    "RADIOPS_RADIO_RATE": "1e6",
}


def simulated_run(repo: Path, experiment: str) -> tuple[Path, dict[str, Any]]:
    """``radiops run experiments/EXPERIMENT`` in ``repo``, asserted to succeed on simulated
    radios: the run's folder and its manifest."""
    result = radiops(repo, "run", f"experiments/{experiment}", timeout=1800)
    runs = sorted((repo / "experiments" / experiment / "runs").glob("*/manifest.json"))
    assert runs, result.stdout[-3000:] + result.stderr[-5000:]
    manifest: dict[str, Any] = json.loads(runs[-1].read_text())
    assert result.returncode == 0, json.dumps(manifest["outcome"]) + result.stderr[-5000:]
    assert manifest["outcome"]["status"] == "succeeded"
    assert manifest["radios_simulated"] is True
    return runs[-1].parent, manifest


def placement(manifest: dict[str, Any], role: str) -> dict[str, Any]:
    """The placement of ``role`` in ``manifest``: exactly one."""
    found: list[dict[str, Any]] = [p for p in manifest["placements"] if p["role"] == role]
    (only,) = found
    return only
