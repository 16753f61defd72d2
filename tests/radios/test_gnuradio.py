"""GNU Radio flowgraphs run unchanged against the channel emulator.

The proof of the wire format: an image with Debian's GNU Radio, a transmitting
flowgraph (signal source -> gr-zeromq PUSH sink) and a receiving one (PULL
source -> vector sink) as the two roles of a run on the local default testbed,
with simulated radios. The tone must arrive where it was sent.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.testing.repos import PROJECT, commit_all, copy_from_project, git, radiops

HERE = Path(__file__).resolve().parent / "gnuradio"


def run_lines(dockerfile: Path) -> list[str]:
    return re.findall(r"^RUN (?:.*\\\n)*.*$", dockerfile.read_text(), re.MULTILINE)


def test_the_gnuradio_layer_is_the_one_of_ofdm_link() -> None:
    """The same RUN line on the same parent: the build cache holds GNU Radio once."""
    ours = run_lines(HERE / "images" / "gr-tone" / "Dockerfile")
    theirs = run_lines(PROJECT / "images" / "ofdm-link" / "Dockerfile")
    assert len(ours) == 1 and "gnuradio" in ours[0]
    assert ours == theirs


@pytest.mark.docker
def test_a_gnuradio_flowgraph_pair_talks_through_the_emulator(tmp_path: Path) -> None:
    repo = tmp_path / "gr-lab"
    for name in ("sdr-base", "channel"):
        copy_from_project(f"images/{name}", repo / "images" / name)
    shutil.copytree(HERE / "images" / "gr-tone", repo / "images" / "gr-tone")
    shutil.copytree(HERE / "experiments" / "gr-tone", repo / "experiments" / "gr-tone")
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "a GNU Radio tone")
    result = radiops(repo, "run", "experiments/gr-tone", timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    (path,) = (repo / "experiments/gr-tone/runs").glob("*/manifest.json")
    manifest = json.loads(path.read_text())
    assert manifest["radios_simulated"] is True
    metrics = manifest["metrics"]
    assert metrics["samples"] == 262144
    wanted = manifest["parameters"]["tone_offset"]
    assert abs(metrics["frequency_offset_hz"] - wanted) <= 0.01 * abs(wanted), metrics
