"""GNU Radio flowgraphs with gr-uhd blocks on simulated radios: images/ofdm-link.

The flowgraphs are written for a USRP (gr-uhd's usrp_sink and usrp_source
opened with UHD_ARGS, gr-digital's ofdm_tx and ofdm_rx); on the local default
testbed libuhd finds the simulated USRP of images/sdr-base and the samples go
through the channel emulator. Without the simulated device usrp_sink and
usrp_source find no USRP and every run fails.

* continuous: numbered packets back to back in one stream (usrp_sink without a
  length tag); the receiver decodes them all, each holding what was sent.
* bursts: experiments/ofdm-link, each packet a burst (usrp_sink with the
  packet_len tag), over a small sweep of the transmit level: the packet error
  rate falls as the signal-to-noise ratio rises, and the SNR the receiver
  measures is the one the channel's path loss and noise floor give.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.testing.repos import commit_all, copy_from_project, git, radiops

pytestmark = pytest.mark.docker

HERE = Path(__file__).resolve().parent / "gr_uhd"
SWEEP = [-30.0, -28.0, -26.0]  # SNR 10, 12 and 14 dB on the local default testbed
PACKETS = 100


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("gr-uhd") / "gr-uhd-lab"
    for name in ("sdr-base", "channel", "ofdm-link"):
        copy_from_project(f"images/{name}", repo / "images" / name)
    scenario = copy_from_project("experiments/ofdm-link", repo / "experiments" / "ofdm-link")
    path = scenario / "experiment.yaml"
    text, count = re.subn(
        r"^  tx_level: \[.*\]$", f"  tx_level: {SWEEP}", path.read_text(), flags=re.M
    )
    assert count == 1, "experiments/ofdm-link has no one-line matrix over tx_level"
    path.write_text(text)
    shutil.copytree(HERE / "experiments", repo / "experiments", dirs_exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "gr-uhd flowgraphs")
    return repo


def manifests(repo: Path, experiment: str, *args: str) -> list[dict[str, Any]]:
    result = radiops(repo, "run", f"experiments/{experiment}", *args, timeout=1800)
    paths = sorted((repo / "experiments" / experiment / "runs").glob("*/manifest.json"))
    found = [json.loads(path.read_text()) for path in paths]
    assert found, result.stdout[-3000:] + result.stderr[-5000:]
    outcomes = [m["outcome"] for m in found]
    assert result.returncode == 0, json.dumps(outcomes) + result.stderr[-5000:]
    for manifest in found:
        assert manifest["outcome"]["status"] == "succeeded"
        assert manifest["radios_simulated"] is True
    return found


def test_a_continuous_ofdm_stream_through_gr_uhd_is_decoded(repo: Path) -> None:
    (manifest,) = manifests(repo, "ofdm-continuous")
    metrics = manifest["metrics"]
    # 6 s at 500 ksps hold 1875 frames of 1600 samples; the stream starts when the
    # transmitter has opened its radio, a few seconds after the receiver at most
    assert metrics["packets_received"] >= 600, metrics
    assert metrics["packets_wrong"] == 0
    # back to back the numbers run on, but not without a gap: gr-digital's ofdm_rx
    # misses about one frame in twenty of a gapless stream even without noise
    # (the header parser's answer reaches the demultiplexer after the next frame's
    # start), which a run of the same blocks offline shows as well
    assert metrics["per"] <= 0.1, metrics


def test_ofdm_link_bursts_lose_fewer_packets_as_the_snr_rises(repo: Path) -> None:
    runs = manifests(repo, "ofdm-link", "--set", f"packets={PACKETS}")
    points = sorted((m["parameters"]["tx_level"], m) for m in runs)
    assert [level for level, _ in points] == SWEEP
    pers = []
    for level, manifest in points:
        metrics = manifest["metrics"]
        channel = manifest["channel"]
        (link,) = channel["links"]
        expected_snr = level + link["gain_db"] - channel["noise_floor_dbfs"]
        assert metrics["snr_db"] == pytest.approx(expected_snr, abs=0.5), metrics
        assert metrics["packets_expected"] == PACKETS
        assert metrics["packets_wrong"] == 0
        pers.append(metrics["per"])
    # 10 dB: nearly every packet lost; 14 dB: (nearly) none (3 of 100 seen on a loaded machine)
    assert pers[0] >= 0.5 and pers[-1] <= 0.05, pers
    assert pers[0] > pers[1] > pers[2], pers
