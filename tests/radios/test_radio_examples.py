"""The radio examples on the local default testbed: simulated radios through the channel emulator.

These are the proof that the emulator is honest: the tone arrives at the
configured frequency with the SNR the channel's figures predict, and the BER
sweep follows the theory for BPSK over AWGN, Q(sqrt(2 Eb/N0)), at every point
down to 1e-4, within its statistical confidence.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from tests.testing.repos import commit_all, radio_repo, radiops
from tests.testing.testbed_fixtures import Testbed

pytestmark = pytest.mark.docker

SIGMAS = 4.0  # per point; six points: a false alarm about once in 2,500 sweeps


def manifests(repo: Path, experiment: str) -> list[dict[str, Any]]:
    runs = sorted((repo / "experiments" / experiment / "runs").glob("*/manifest.json"))
    return [json.loads(path.read_text()) for path in runs]


def q_function(x: float) -> float:
    return 0.5 * math.erfc(x / math.sqrt(2))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return radio_repo(tmp_path_factory.mktemp("radios"))


def test_tone_link_measures_the_configured_offset_through_the_emulator(repo: Path) -> None:
    result = radiops(repo, "run", "experiments/tone-link")
    assert result.returncode == 0, result.stdout + result.stderr
    (manifest,) = manifests(repo, "tone-link")
    assert manifest["outcome"]["status"] == "succeeded"
    assert manifest["radios_simulated"] is True
    assert all(p["radio"]["simulated"] for p in manifest["placements"])
    wanted = manifest["parameters"]["tone_offset"]
    measured = manifest["metrics"]["frequency_offset_hz"]
    assert abs(measured - wanted) <= 0.01 * abs(wanted), (measured, wanted)
    # SNR over the whole band = TX level + link gain - noise floor, all from the manifest
    channel = manifest["channel"]
    (link,) = channel["links"]
    expected_snr = (
        manifest["parameters"]["tx_level"] + link["gain_db"] - channel["noise_floor_dbfs"]
    )
    assert manifest["metrics"]["snr_db"] == pytest.approx(expected_snr, abs=0.5)
    assert manifest["seeds"] == {"channel": channel["seed"]}
    assert "stopped:" in channel["log_tail"]
    (recording,) = [o for o in manifest["outputs"] if o["sigmf"]]
    assert recording["path"] == "capture.sigmf-data"
    assert recording["sigmf"]["num_samples"] == manifest["parameters"]["capture_samples"]
    assert recording["sigmf"]["sample_rate"] == 1e6
    assert recording["sigmf"]["center_frequency"] == 2.45e9
    assert recording["sigmf"]["datatype"] == "cf32_le"


def test_bpsk_ber_sweep_follows_theory_down_to_1e_4(repo: Path) -> None:
    result = radiops(repo, "run", "experiments/bpsk-ber")
    assert result.returncode == 0, result.stdout + result.stderr
    runs = manifests(repo, "bpsk-ber")
    assert len(runs) == 6
    lowest = 1.0
    for manifest in runs:
        assert manifest["outcome"]["status"] == "succeeded"
        assert manifest["seeds"] == {"seed": 1, "channel": manifest["channel"]["seed"]}
        parameters, metrics, channel = (
            manifest["parameters"],
            manifest["metrics"],
            manifest["channel"],
        )
        (link,) = channel["links"]
        ebn0_db = (
            parameters["tx_level"]
            + link["gain_db"]
            - channel["noise_floor_dbfs"]
            + 10 * math.log10(parameters["sps"])
        )
        theory = q_function(math.sqrt(2 * 10 ** (ebn0_db / 10)))
        bits, errors = metrics["bits"], metrics["bit_errors"]
        spread = SIGMAS * math.sqrt(bits * theory * (1 - theory))
        point = f"tx_level {parameters['tx_level']}: Eb/N0 {ebn0_db:.2f} dB"
        assert abs(errors - bits * theory) <= spread + 1, (point, errors, bits * theory)
        assert metrics["ebn0_db"] == pytest.approx(ebn0_db, abs=0.25), point
        lowest = min(lowest, theory)
    assert lowest < 1.1e-4  # the sweep reaches 1e-4


EXITS_SCRIPT = """\
import json, os, sys, time
import numpy as np
from radiops_radio import open_radio

SAMPLES = 100 * 65536  # 6.5 s at 1 Msps
LEAD = 1_000_000  # 1 s of silence first: the receiver may start a little later
symbols = (1.0 - 2.0 * np.random.default_rng(7).integers(0, 2, SAMPLES)).astype(np.complex64)
if sys.argv[1] == "tx":
    with open_radio() as radio:
        radio.transmit(np.concatenate([np.zeros(LEAD, np.complex64), symbols]))
    print("transmitted, closed", flush=True)  # and the process ends at once
else:
    with open_radio() as radio:
        samples = radio.receive(2 * LEAD + SAMPLES + 65536)
    # where the symbols start in the capture: the first symbols found by correlation
    head, span = symbols[:8192], 4 * LEAD
    size = 2 * span
    correlation = np.fft.ifft(np.fft.fft(samples[:span], size) * np.conj(np.fft.fft(head, size)))
    start = int(np.argmax(np.abs(correlation[: span - len(head)])))
    heard = samples[start : start + SAMPLES]
    wrong = np.flatnonzero((heard.real < 0) != (symbols[: len(heard)].real < 0))
    errors = len(wrong)
    after = samples[start + SAMPLES :]
    metrics = {
        "start": start,
        "heard": len(heard),
        "bit_errors": errors,
        "errors_from": int(wrong[0]) if errors else None,
        "errors_to": int(wrong[-1]) if errors else None,
        "after_dbfs": float(10 * np.log10(np.mean(np.abs(after) ** 2))),
    }
    print(json.dumps(metrics), flush=True)
    out = os.environ["RADIOPS_OUTPUT_DIR"]
    with open(os.path.join(out, "metrics.json"), "w") as handle:
        json.dump(metrics, handle)
"""

EXITS_SCENARIO = """\
name: exits
description: a transmitter that exits as soon as it has sent
duration: 1m
timeout: 2m
roles:
  tx:
    image: images/exits
    command: [tx]
    radio: {frequency: 915e6, rate: 1e6, direction: tx}
    resources: {memory: 1G}
  rx:
    image: images/exits
    command: [rx]
    radio: {frequency: 915e6, rate: 1e6, direction: rx}
    resources: {memory: 1G}
metrics: metrics.json
"""


def test_a_transmitter_that_exits_is_heard_to_its_last_sample(repo: Path) -> None:
    """The transmitter's process ends (and its container's network with it) as soon as
    its radio is closed, while the end of its burst is still on its way: every sample of
    the burst arrives, to the last one, then silence."""
    image = repo / "images" / "exits"
    image.mkdir()
    (image / "exits.py").write_text(EXITS_SCRIPT)
    (image / "Dockerfile").write_text(
        "FROM images/sdr-base\nCOPY exits.py /opt/exits.py\n"
        'ENTRYPOINT ["python3", "/opt/exits.py"]\n'
    )
    (repo / "experiments" / "exits").mkdir()
    (repo / "experiments" / "exits" / "experiment.yaml").write_text(EXITS_SCENARIO)
    commit_all(repo, "a transmitter that exits at once")
    result = radiops(repo, "run", "experiments/exits")
    assert result.returncode == 0, result.stdout + result.stderr
    (manifest,) = manifests(repo, "exits")
    metrics = manifest["metrics"]
    assert 0 < metrics["start"] < 2_000_000, metrics  # within the lead, as both started
    assert metrics["heard"] == 100 * 65536, metrics
    assert metrics["bit_errors"] == 0, metrics
    assert metrics["after_dbfs"] < -70, metrics  # then silence: the noise floor (-80 dBFS)


def test_a_claimed_radio_the_node_lacks_stops_the_run(
    repo: Path, testbed: Testbed, tmp_path: Path
) -> None:
    engines = testbed.node_engines
    inventory = "nodes:\n" + "".join(
        f"  {name}:\n    engine: {engines[name]}\n    radios: [{{type: b210{serial}}}]\n"
        for name, serial in (("node1", ", serial: 31ABCDE"), ("node2", ""))
    )
    claimed = tmp_path / "claims-a-b210.yaml"
    claimed.write_text(inventory)
    before = len(manifests(repo, "tone-link"))
    result = radiops(repo, "run", "experiments/tone-link", "--testbed", str(claimed))
    assert result.returncode == 3, result.stdout + result.stderr
    assert "node node1: testbed.yaml lists a b210 radio (serial 31ABCDE)" in result.stderr
    assert "found no USRP" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(manifests(repo, "tone-link")) == before  # no run was started


def test_tone_link_reproduces_with_its_capture_compared_by_psd(repo: Path) -> None:
    result = radiops(repo, "run", "experiments/tone-link")
    assert result.returncode == 0, result.stdout + result.stderr
    run_id = result.stdout.split()[0]
    commit_all(repo, f"results: tone-link {run_id}")
    again = radiops(repo, "reproduce", "experiments/tone-link", "--run", run_id)
    assert again.returncode == 0, again.stdout + again.stderr
    psd = re.search(
        r"^pass  output capture\.sigmf-data: expected PSD distance ≤ 1 dB, got ([0-9.]+) dB$",
        again.stdout,
        re.MULTILINE,
    )
    assert psd is not None, again.stdout
    # the same tone through the same channel (its noise seeded from the recorded seeds);
    # a capture starts when the receiver asks, as on a USRP, so not the same samples
    assert float(psd.group(1)) < 0.1
    # published with another tone: the re-run's spectrum is not the recorded one
    path = repo / "experiments/tone-link/runs" / run_id / "manifest.json"
    recorded = json.loads(path.read_text())
    recorded["parameters"]["tone_offset"] = 150000
    path.write_text(json.dumps(recorded, indent=2))
    commit_all(repo, "published with another tone")
    moved = radiops(repo, "reproduce", "experiments/tone-link", "--run", run_id)
    assert moved.returncode == 1, moved.stdout + moved.stderr
    assert re.search(
        r"^fail  output capture\.sigmf-data: expected PSD distance", moved.stdout, re.M
    )
