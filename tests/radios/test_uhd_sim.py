"""Unchanged UHD programs on simulated radios: the simulated USRP of images/sdr-base.

libuhd finds it (UHD_MODULE_PATH, set by radiops for simulated roles only) and
it streams through the run's channel emulator. The programs are UHD's own
(uhd-host's tools and examples from Debian) and uhd.usrp.MultiUSRP scripts;
nothing in them knows the radio is simulated. Without the module every one of
these fails: UHD finds no device.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import numpy as np
import pytest

from runner.engine.capture import artifact_store
from runner.engine.execute import SIMULATED_UHD_MODULES
from runner.engine.images import build
from runner.model.repo import Repository
from runner.pipeline.experiment_run import DEFAULT_STORE
from runner.pipeline.outputs import output_path
from tests.testing.repos import commit_all, copy_from_project, git, radiops
from tests.testing.testbed_fixtures import PROJECT

pytestmark = pytest.mark.docker

HERE = Path(__file__).resolve().parent / "uhd"

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
FINDS = """
import json, sys, uhd
print(json.dumps({a: [d.to_dict() for d in uhd.find(a)] for a in sys.argv[1:]}))
"""
QUERIES = (
    "",
    "type=b210",
    "serial=3141ABC",
    "addr=192.168.10.2",
    "type=b210,serial=3141ABC",
    "name=bench-3",
    "serial=0000",
    "type=x300",
)


@pytest.fixture(scope="module")
def sdr_base(docker_clients: dict[str, docker.DockerClient]) -> str:
    client = docker_clients["default"]
    return build(
        client, Repository(root=PROJECT), "images/sdr-base", progress=lambda _: None
    ).image_id


def found(client: docker.DockerClient, image: str, env: Mapping[str, str]) -> dict[str, Any]:
    """uhd.find for each of QUERIES in a container of ``image`` with ``env``."""
    output = client.containers.run(
        image,
        ["python3", "-c", FINDS, *QUERIES],
        environment=dict(env),
        network_mode="none",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        remove=True,
        stdout=True,
        stderr=False,
    )
    result: dict[str, Any] = json.loads(output)
    return result


def test_libuhd_finds_the_simulated_usrp_by_what_the_inventory_says(
    docker_clients: dict[str, docker.DockerClient], sdr_base: str
) -> None:
    client = docker_clients["default"]
    devices = found(client, sdr_base, SIMULATED_B210)
    for query in QUERIES[:6]:
        (device,) = devices[query]
        assert device["type"] == "b210" and device["serial"] == "3141ABC", query
        assert device["name"] == "bench-3" and device["addr"] == "192.168.10.2"
        assert device["product"] == "simulated"
    assert devices["serial=0000"] == [] and devices["type=x300"] == []
    # a real radio's role: nothing of the simulation is active
    real = {**SIMULATED_B210, "RADIOPS_RADIO_SIMULATED": "false"}
    real.pop("UHD_MODULE_PATH")
    assert not any(found(client, sdr_base, real).values())
    # and it stays off even if the module were loaded without the runner's word
    assert not any(
        found(client, sdr_base, {**real, "UHD_MODULE_PATH": SIMULATED_UHD_MODULES}).values()
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("uhd") / "uhd-lab"
    for name in ("sdr-base", "channel"):
        copy_from_project(f"images/{name}", repo / "images" / name)
    shutil.copytree(HERE / "images", repo / "images", dirs_exist_ok=True)
    shutil.copytree(HERE / "experiments", repo / "experiments")
    # the same scenario with its simulated radios in fast pacing
    bursts = (HERE / "experiments" / "uhd-bursts" / "experiment.yaml").read_text()
    fast = bursts.replace("name: uhd-bursts\n", "name: uhd-bursts-fast\npacing: fast\n", 1)
    assert "pacing: fast" in fast
    (repo / "experiments" / "uhd-bursts-fast").mkdir()
    (repo / "experiments" / "uhd-bursts-fast" / "experiment.yaml").write_text(fast)
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "UHD programs")
    return repo


def run(repo: Path, experiment: str) -> tuple[Path, dict[str, Any]]:
    result = radiops(repo, "run", f"experiments/{experiment}", timeout=1800)
    runs = sorted((repo / "experiments" / experiment / "runs").glob("*/manifest.json"))
    assert runs, result.stdout[-3000:] + result.stderr[-5000:]
    manifest = json.loads(runs[-1].read_text())
    assert result.returncode == 0, json.dumps(manifest["outcome"]) + result.stderr[-5000:]
    assert manifest["outcome"]["status"] == "succeeded"
    assert manifest["radios_simulated"] is True
    return runs[-1].parent, manifest


def placement(manifest: dict[str, Any], role: str) -> dict[str, Any]:
    (found,) = [p for p in manifest["placements"] if p["role"] == role]
    return found


def test_uhd_examples_send_a_tone_that_arrives_at_its_frequency(repo: Path) -> None:
    run_dir, manifest = run(repo, "uhd-tone")
    rx = placement(manifest, "rx")
    log = (run_dir / "logs" / "rx-0.stdout").read_text()
    # uhd_find_devices lists the one simulated device, with the runner's serial and node
    assert log.count("-- UHD Device ") == 1, log[:3000]
    assert f"serial: {rx['radio']['serial']}" in log
    assert f"name: {rx['node']}" in log
    # uhd_usrp_probe, opened by that serial, says what it is
    assert "Device: Simulated USRP (radiops channel emulator)" in log
    assert "product: simulated (radiops channel emulator, not hardware)" in log
    # the manifest says, per role, that the radio was a simulated UHD device, and
    # which libuhd the application opened it with (Debian bookworm's)
    for role in ("tx", "rx"):
        radio = placement(manifest, role)["radio"]
        assert radio["simulated"] is True and radio["uhd_device"] == "simulated USRP"
        assert radio["uhd_version"].startswith("4.3.0"), radio
        assert radio["uhd_abi"] == "4.3.0", radio
    (capture,) = run_dir.glob("outputs/rx-0/rx.dat")
    samples = np.fromfile(capture, np.complex64)
    assert len(samples) == 100_000
    spectrum = np.abs(np.fft.fft(samples))
    peak = float(np.fft.fftfreq(len(samples), 1e-6)[int(np.argmax(spectrum))])
    # tx_waveforms tuned 100 kHz above the scenario's 915 MHz at run time and sent a
    # 25 kHz tone from its 8192-entry wave table (205 entries a sample: 25.0244 kHz):
    # the receiver at 915 MHz hears it at 125.0244 kHz (10 Hz FFT bins)
    assert peak == pytest.approx(100e3 + 205 / 8192 * 1e6, abs=10), peak
    # a tone, not noise: the peak stands far above the rest
    assert spectrum.max() ** 2 > 1000 * np.median(spectrum) ** 2


def test_a_rate_the_emulator_cannot_serve_in_real_time_is_a_clear_overflow(repo: Path) -> None:
    run_dir, _ = run(repo, "uhd-too-fast")
    log = (run_dir / "logs" / "rx-0.stderr").read_text()
    # the simulated USRP says why, once; UHD's own program sees an overflow
    assert log.count("simulated USRP: the medium is ") == 1, log[-3000:]
    assert "cannot keep up with 100 Msps in real time on this machine" in log
    assert "lower the scenario's radio.rate, or set pacing: fast" in log
    assert "Got an overflow indication" in log, log[-3000:]


def test_multi_usrp_scripts_time_bursts_to_the_sample(repo: Path) -> None:
    run_dir, manifest = run(repo, "uhd-bursts")
    check_bursts(run_dir, manifest)


def test_fast_pacing_streams_faster_than_real_time_and_keeps_bursts_on_their_samples(
    repo: Path,
) -> None:
    run_dir, manifest = run(repo, "uhd-bursts-fast")
    check_bursts(run_dir, manifest)
    # the transmitter sent 400 bursts a period apart (20 s of samples at 1 Msps) and
    # its container, startup and all, took a fraction of that
    (tx,) = [c for c in manifest["containers"] if c["role"] == "tx"]
    took = (parse_time(tx["finished"]) - parse_time(tx["started"])).total_seconds()
    sent = json.loads((run_dir / "outputs" / "tx-0" / "result.json").read_text())["bursts_sent"]
    on_air = sent * manifest["parameters"]["period"] / 1e6  # the scenario's radio.rate
    assert took < on_air / 2, (took, on_air)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def check_bursts(run_dir: Path, manifest: dict[str, Any]) -> None:
    """What uhd-bursts' receiver and transmitter measured: every burst on its sample."""
    (result_path,) = run_dir.glob("outputs/rx-0/result.json")
    rx = json.loads(result_path.read_text())
    burst, period = manifest["parameters"]["burst"], manifest["parameters"]["period"]
    assert rx["errors"] == []
    # the timed stream command's first sample carries exactly the time asked for
    assert rx["first_sample_offset"] == 0
    # every burst whole, every timed burst exactly a period after the last: the gaps
    # between bursts are silence on the medium (the noise floor), not lost time
    assert rx["bursts"] >= 40
    assert rx["lengths"] == [burst]
    assert rx["spacings"] == [period]
    channel = manifest["channel"]
    (link,) = channel["links"]
    assert rx["gap_dbfs"] == pytest.approx(channel["noise_floor_dbfs"], abs=1.0)
    assert rx["burst_dbfs"] == pytest.approx(20 * np.log10(0.5) + link["gain_db"], abs=0.5)
    # set_command_time + set_tx_freq: the retune lands in the middle of its burst
    assert rx["tones"] == [pytest.approx(50e3, abs=20), pytest.approx(150e3, abs=20)]
    assert rx["hop_at"] == pytest.approx(burst // 2, abs=2)
    # a rate the emulator cannot serve is a clear error
    assert "runs at 1 Msps" in rx["rate_error"]
    assert rx["mboard"] == "simulated USRP"
    (tx_path,) = run_dir.glob("outputs/tx-0/result.json")
    tx = json.loads(tx_path.read_text())
    # each burst's end acknowledged; what was scheduled while the medium waited
    # for the receiver may be late, nothing underflows
    assert tx["events"].get("burst_ack", 0) + tx["events"].get("time_error", 0) == 400
    assert "underflow" not in tx["events"]


def test_uhd_tx_bursts_arrive_whole_and_on_time(repo: Path) -> None:
    run_dir, manifest = run(repo, "uhd-tx-bursts")
    (output,) = [o for o in manifest["outputs"] if o["path"] == "rx.dat"]
    store = artifact_store(repo / DEFAULT_STORE, repo)
    raw = np.fromfile(output_path(output, run_dir, store), "<i2").astype(np.float64)
    samples = (raw[0::2] + 1j * raw[1::2]) / 32767.0
    assert len(samples) == 3_000_000
    # tx_bursts sends a constant (0.5 + 0.5j): in a burst every sample stands far
    # above the noise floor, between bursts the medium carries noise only
    (link,) = manifest["channel"]["links"]
    level = np.abs(0.5 + 0.5j) * 10 ** (link["gain_db"] / 20)
    noise = 10 ** (manifest["channel"]["noise_floor_dbfs"] / 20)
    assert level > 30 * noise
    on = np.abs(samples) > level / 2
    edges = np.flatnonzero(np.diff(on.astype(np.int8))) + 1
    starts = [e for e in edges if on[e]]
    ends = [e for e in edges if not on[e]]
    bursts = [(a, min(b for b in ends if b > a)) for a in starts if any(b > a for b in ends)]
    assert len(bursts) >= 10, edges[:20]
    # every burst whole, the 2,500 samples asked for; each starts exactly
    # rep-delay (0.1 s of device time: 25,000 samples) after the one before
    assert {b - a for a, b in bursts} == {2_500}, bursts[:5]
    assert set(np.diff([a for a, _ in bursts]).tolist()) == {25_000}
    inside = np.concatenate([samples[a:b] for a, b in bursts])
    assert 20 * np.log10(np.abs(inside).mean()) == pytest.approx(20 * np.log10(level), abs=0.5)
    assert placement(manifest, "tx")["radio"]["uhd_device"] == "simulated USRP"
