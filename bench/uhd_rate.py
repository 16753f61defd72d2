"""The simulated USRP's streaming rate, measured by UHD's own benchmark_rate.

Two containers of images/sdr-base on a run's channel network
(runner.engine.channel.ChannelNetwork, the runner's default emulator block), with
the environment the runner gives simulated radios: one runs
``benchmark_rate --tx_rate R`` (a simulated USRP that transmits), the other
``benchmark_rate --rx_rate R`` (one that receives), both at once, since the
medium needs a transmitter and a receiver. The program is uhd-host's, from
Debian, unchanged. A rate is sustained when benchmark_rate counts the
samples the rate asks for with no overruns, dropped samples, underruns,
sequence errors, late commands or timeouts. Printed per rate, each way:
samples, the rate achieved, and the error counts; then the highest rate
sustained both ways against the channel emulator's raw rate at the same
block size (bench/channel.py's measurement, in the same script). Target: 10
Msps each way on a 2-core machine.

``--pacing fast`` runs the radios in fast pacing (the scenario's ``pacing:
fast``): their clocks follow the samples rather than the wall, so
benchmark_rate counts what the whole chain moves per second of its run.

``--drift`` instead streams for SECONDS (default 60) at 1 Msps with
uhd.usrp.MultiUSRP scripts: the receiver compares the time spec of the last
sample it received with the wall time elapsed since the first, and the
device clock (get_time_now) with the wall clock; the transmitter sends one
timed burst for the same time and compares its end (the burst's
acknowledgement) with the wall. Target: within 1 ms after 60 s.

Usage: .venv/bin/python bench/uhd_rate.py [--pacing fast] [SECONDS] [RATE...]
                                          (default 10 s; 5e6 10e6 20e6)
       .venv/bin/python bench/uhd_rate.py --drift [SECONDS]
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from pathlib import Path

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container

ROOT = Path(__file__).resolve().parent.parent
TARGET_SPS = 10e6
DRIFT_TARGET_S = 1e-3
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from channel import emulator_rate  # noqa: E402

from runner.engine.channel import DEFAULT_BLOCK, ChannelConfig, ChannelLink, ChannelNetwork  # noqa: E402
from runner.engine.container_spec import SIMULATED_UHD_MODULES  # noqa: E402
from runner.engine.images import build  # noqa: E402
from runner.model.repo import Repository  # noqa: E402

ENGINE = "unix:///var/run/docker.sock"
LABELS = {"radiops.bench": "uhd-rate"}
BENCHMARK = "/usr/libexec/uhd/examples/benchmark_rate"
COUNTS = {
    "received": "Num received samples",
    "dropped": "Num dropped samples",
    "overruns": "Num overruns detected",
    "transmitted": "Num transmitted samples",
    "seq_tx": "Num sequence errors (Tx)",
    "seq_rx": "Num sequence errors (Rx)",
    "underruns": "Num underruns detected",
    "late": "Num late commands",
    "timeouts_tx": "Num timeouts (Tx)",
    "timeouts_rx": "Num timeouts (Rx)",
}
ERRORS = ("dropped", "overruns", "seq_tx", "seq_rx", "underruns", "late", "timeouts_tx")

# Both scripts note, after every buffer, the wall time and the device time of the
# buffer's last sample; their difference (the lag) moves with jitter (ZeroMQ
# messages, the emulator's blocks, the device buffer) but must not drift: the
# median lag of the last WINDOW seconds against that of the first.
DRIFT_COMMON = """
import json, sys, time, numpy as np, uhd
seconds, WINDOW = float(sys.argv[1]), 5.0
usrp = uhd.usrp.MultiUSRP("")

def drift(points):
    wall, device = np.array(points).T
    lag = wall - device
    first = np.median(lag[device - device[0] <= WINDOW])
    last = np.median(lag[device[-1] - device <= WINDOW])
    return {"device_s": device[-1] - device[0], "wall_s": wall[-1] - wall[0],
            "drift_s": last - first,
            "jitter_s": float(np.percentile(np.abs(lag - np.median(lag)), 99))}

def clock():
    before = time.monotonic(); device = usrp.get_time_now().get_real_secs()
    return (before + time.monotonic()) / 2, device
"""

DRIFT_RX = (
    DRIFT_COMMON
    + """
rate = usrp.get_rx_rate()
stream = usrp.get_rx_stream(uhd.usrp.StreamArgs("fc32", "sc16"))
buf = np.empty((1, 10000), np.complex64)
md = uhd.types.RXMetadata()
cmd = uhd.types.StreamCMD(uhd.types.StreamMode.start_cont)
cmd.stream_now = True
stream.issue_stream_cmd(cmd)
errors, points, got, clock0 = [], [], 0, clock()
while True:
    n = stream.recv(buf, md, 5.0)
    now = time.monotonic()
    if md.error_code != uhd.types.RXMetadataErrorCode.none:
        errors.append(str(md.error_code))
        continue
    if not points:
        begin = md.time_spec.get_real_secs()
    points.append((now, md.time_spec.get_real_secs() + n / rate))
    got += n
    if points[-1][1] - points[0][1] >= seconds:
        break
clock1 = clock()
stream.issue_stream_cmd(uhd.types.StreamCMD(uhd.types.StreamMode.stop_cont))
result = drift(points)
result.update(
    contiguous=got == round((points[-1][1] - begin) * rate),
    clock_drift_s=(clock1[0] - clock0[0]) - (clock1[1] - clock0[1]), errors=errors,
)
print(json.dumps(result))
"""
)

DRIFT_TX = (
    DRIFT_COMMON
    + """
rate = usrp.get_tx_rate()
stream = usrp.get_tx_stream(uhd.usrp.StreamArgs("fc32", "sc16"))
total = int(round(seconds * rate))
buf = (0.3 * np.exp(2j * np.pi * 0.01 * np.arange(10000))).astype(np.complex64).reshape(1, -1)
start = usrp.get_time_now().get_real_secs() + 0.5
md = uhd.types.TXMetadata()
md.start_of_burst = md.has_time_spec = True
md.time_spec = uhd.types.TimeSpec(start)
sent, points = 0, []
while sent < total:
    n = min(buf.shape[1], total - sent)
    md.end_of_burst = sent + n == total
    sent += stream.send(buf[:, :n], md, 5.0)
    md.start_of_burst = md.has_time_spec = False
    points.append((time.monotonic(), start + sent / rate))  # accepted up to this device time
events = []
am = uhd.types.TXAsyncMetadata()
while stream.recv_async_msg(am, 10.0):
    events.append(str(am.event_code).rsplit(".", 1)[-1])
    if events[-1] == "burst_ack":
        break
result = drift(points)
result.update(events=events)
print(json.dumps(result))
"""
)


def radio_env(rate: float, pacing: str) -> dict[str, str]:
    """What the runner gives a simulated radio's container (runner/engine/container_spec.py)."""
    return {
        "UHD_MODULE_PATH": SIMULATED_UHD_MODULES,
        "RADIOPS_RADIO_SIMULATED": "true",
        "RADIOPS_RADIO_TYPE": "radiops-sim",
        "RADIOPS_RADIO_SERIAL": "BENCH",
        "RADIOPS_RADIO_RATE": f"{rate:g}",
        "RADIOPS_RADIO_FREQUENCY": "2.4e9",
        "RADIOPS_RADIO_GAIN": "20",
        "RADIOPS_RADIO_PACING": pacing,
    }


def start(
    client: docker.DockerClient, image: str, network: str, command: list[str], env: dict[str, str]
) -> Container:
    return client.containers.run(
        image,
        command,
        environment=env,
        network_mode=network,
        user="65534:65534",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        labels=LABELS,
        detach=True,
    )


def two_radios(
    client: docker.DockerClient,
    images: tuple[str, str],
    rate: float,
    pacing: str,
    commands: tuple[list[str], list[str]],
    timeout_s: float,
) -> tuple[str, str, str]:
    """Run the TX command and the RX command on two simulated radios of one medium.

    Their logs, and the emulator's.
    """
    channel_image, sdr_image = images
    config = ChannelConfig(
        sample_rate=rate,
        tx=("tx-0",),
        rx=("rx-0",),
        links={"tx-0": {"rx-0": ChannelLink(gain_db=-10.0, delay_samples=17)}},
        noise_floor_dbfs=-80.0,
        seed=1,
        block=DEFAULT_BLOCK,
    )
    channel = ChannelNetwork(
        client,
        run_id=f"bench-{uuid.uuid4().hex[:8]}",
        image=channel_image,
        config=config,
        labels=LABELS,
    )
    logs: list[str] = []
    failed = ""
    with channel as ep:
        containers = [
            start(
                client,
                sdr_image,
                ep.network,
                command,
                {**radio_env(rate, pacing), **ep.environment(slug)},
            )
            for slug, command in zip(("tx-0", "rx-0"), commands, strict=True)
        ]
        try:
            for container in containers:
                try:
                    status: int | str = container.wait(timeout=timeout_s)["StatusCode"]
                except requests.exceptions.ConnectionError:  # the engine's read timed out
                    status = f"still running after {timeout_s:g} s"
                text = container.logs(stdout=True, stderr=True).decode(errors="replace")
                if status != 0:
                    failed += f"{container.name}: {status}:\n{text[-3000:]}\n"
                logs.append(text)
        finally:
            for container in containers:
                container.remove(force=True)
    if failed:
        raise RuntimeError(f"{failed}the channel emulator's log:\n{channel.log[-3000:]}")
    return logs[0], logs[1], channel.log


def counts(log: str) -> dict[str, int]:
    found = {}
    for key, label in COUNTS.items():
        match = re.search(re.escape(label) + r":\s+(\d+)", log)
        if match:
            found[key] = int(match.group(1))
    if "received" not in found and "transmitted" not in found:
        raise RuntimeError(f"benchmark_rate printed no summary:\n{log[-3000:]}")
    return found


def rate_mode(client: docker.DockerClient, images: tuple[str, str], argv: list[str]) -> int:
    pacing = "realtime"
    if argv[:1] == ["--pacing"]:
        pacing, argv = argv[1], argv[2:]
    seconds = float(argv[0]) if argv else 10.0
    rates = [float(a) for a in argv[1:]] or [5e6, 10e6, 20e6]
    print(
        f"benchmark_rate --duration {seconds:g} on two simulated USRPs (pacing {pacing}), "
        f"emulator block {DEFAULT_BLOCK}"
    )
    print(f"{'rate Msps':>9} {'way':>3} {'samples':>11} {'got Msps':>9}  errors")
    best = 0.0
    for rate in rates:
        common = [BENCHMARK, "--duration", f"{seconds:g}"]
        tx_log, rx_log, emulator_log = two_radios(
            client,
            images,
            rate,
            pacing,
            ([*common, "--tx_rate", f"{rate:g}"], [*common, "--rx_rate", f"{rate:g}"]),
            timeout_s=seconds * 10 + 120,
        )
        clean, slower = True, float("inf")
        for way, log, key in (("TX", tx_log, "transmitted"), ("RX", rx_log, "received")):
            found = counts(log)
            errors = {k: v for k, v in found.items() if k in ERRORS and v}
            got = found.get(key, 0) / seconds
            # a sustained rate: no error, and (in real time) the samples the rate asks for
            enough = pacing == "fast" or got >= 0.99 * rate
            clean = clean and not errors and enough
            text = ", ".join(f"{k} {v}" for k, v in errors.items()) or "none"
            print(
                f"{rate / 1e6:>9g} {way:>3} {found.get(key, 0):>11} {got / 1e6:>9.2f}  {text}",
                flush=True,
            )
            slower = min(slower, got)
        if clean:  # fast: what the slower way moved; real time: the rate
            best = max(best, slower if pacing == "fast" else rate)
        if not clean:
            print("        emulator log: " + "\n        ".join(emulator_log.splitlines()[-6:]))
    raw, _ = emulator_rate(client, images[0], DEFAULT_BLOCK, 5.0)
    print(f"channel emulator alone (bench/channel.py, block {DEFAULT_BLOCK}): {raw / 1e6:.1f} Msps")
    what = "sustained with no errors" if pacing != "fast" else "moved by the slower way"
    print(
        f"highest rate {what}: {best / 1e6:g} Msps each way; ratio to the emulator {best / raw:.2f}"
    )
    met = best >= TARGET_SPS
    print(f"target {TARGET_SPS / 1e6:g} Msps each way: {'met' if met else 'MISSED'}")
    return 0 if met else 1


def drift_mode(client: docker.DockerClient, images: tuple[str, str], argv: list[str]) -> int:
    seconds = float(argv[0]) if argv else 60.0
    rate = 1e6
    tx_log, rx_log, _ = two_radios(
        client,
        images,
        rate,
        "realtime",
        (["python3", "-c", DRIFT_TX, f"{seconds:g}"], ["python3", "-c", DRIFT_RX, f"{seconds:g}"]),
        timeout_s=seconds + 120,
    )
    rx = json.loads(rx_log.strip().splitlines()[-1])
    tx = json.loads(tx_log.strip().splitlines()[-1])
    print(f"{seconds:g} s at {rate / 1e6:g} Msps on two simulated USRPs (real time)")
    print(
        f"RX: samples up to device time +{rx['device_s']:.3f} s received in "
        f"{rx['wall_s']:.3f} s of wall time; drift of their lag behind the wall "
        f"{rx['drift_s'] * 1e3:+.3f} ms (jitter, 99th percentile: {rx['jitter_s'] * 1e3:.2f} ms; "
        "contiguous: "
        f"{rx['contiguous']}; errors: {rx['errors'] or 'none'})"
    )
    print(f"    device clock against the wall clock: {rx['clock_drift_s'] * 1e3:+.3f} ms")
    print(
        f"TX: one timed burst of {tx['device_s']:.3f} s accepted in {tx['wall_s']:.3f} s of "
        f"wall time; drift of its lead over the wall {tx['drift_s'] * 1e3:+.3f} ms "
        f"(jitter, 99th percentile: {tx['jitter_s'] * 1e3:.2f} ms; events: {tx['events']})"
    )
    worst = max(abs(rx["drift_s"]), abs(rx["clock_drift_s"]), abs(tx["drift_s"]))
    ok = worst <= DRIFT_TARGET_S and rx["contiguous"] and not rx["errors"]
    ok = ok and tx["events"] == ["burst_ack"]
    print(f"target within {DRIFT_TARGET_S * 1e3:g} ms: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    client = docker.DockerClient(base_url=ENGINE, version="auto", timeout=600)
    repo = Repository(root=ROOT)
    images = tuple(
        build(client, repo, path, progress=lambda _: None).image_id
        for path in ("images/channel", "images/sdr-base")
    )
    assert len(images) == 2
    if argv[:1] == ["--drift"]:
        return drift_mode(client, (images[0], images[1]), argv[1:])
    return rate_mode(client, (images[0], images[1]), argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
