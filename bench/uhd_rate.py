"""The simulated USRP's streaming rate, measured by UHD's own benchmark_rate.

Two containers of images/sdr-base on a run's channel network
(runner.channel.ChannelNetwork, the runner's default emulator block), with
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
from docker.models.containers import Container

ROOT = Path(__file__).resolve().parent.parent
TARGET_SPS = 10e6
DRIFT_TARGET_S = 1e-3
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from channel import emulator_rate  # noqa: E402

from runner.channel import DEFAULT_BLOCK, ChannelConfig, ChannelLink, ChannelNetwork  # noqa: E402
from runner.execute import SIMULATED_UHD_MODULES  # noqa: E402
from runner.images import build  # noqa: E402
from runner.repo import Repository  # noqa: E402

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

DRIFT_RX = """
import json, os, sys, time, numpy as np, uhd
seconds = float(sys.argv[1])
usrp = uhd.usrp.MultiUSRP("")
rate = usrp.get_rx_rate()
stream = usrp.get_rx_stream(uhd.usrp.StreamArgs("fc32", "sc16"))
buf = np.empty((1, 10000), np.complex64)
md = uhd.types.RXMetadata()
cmd = uhd.types.StreamCMD(uhd.types.StreamMode.start_cont)
cmd.stream_now = True
stream.issue_stream_cmd(cmd)
errors, got, first = [], 0, None
clock0 = (time.monotonic(), usrp.get_time_now().get_real_secs())
while True:
    n = stream.recv(buf, md, 5.0)
    now = time.monotonic()
    if md.error_code != uhd.types.RXMetadataErrorCode.none:
        errors.append(str(md.error_code))
        continue
    end = md.time_spec.get_real_secs() + n / rate  # device time just after the last sample
    if first is None:
        first = (now, end)
        continue
    got += n
    if end - first[1] >= seconds:
        break
clock1 = (time.monotonic(), usrp.get_time_now().get_real_secs())
stream.issue_stream_cmd(uhd.types.StreamCMD(uhd.types.StreamMode.stop_cont))
print(json.dumps({
    "device_s": end - first[1], "wall_s": now - first[0],
    "contiguous": got == round((end - first[1]) * rate),
    "clock_device_s": clock1[1] - clock0[1], "clock_wall_s": clock1[0] - clock0[0],
    "errors": errors,
}))
"""

DRIFT_TX = """
import json, sys, time, numpy as np, uhd
seconds = float(sys.argv[1])
usrp = uhd.usrp.MultiUSRP("")
rate = usrp.get_tx_rate()
stream = usrp.get_tx_stream(uhd.usrp.StreamArgs("fc32", "sc16"))
total = int(round(seconds * rate))
buf = (0.3 * np.exp(2j * np.pi * 0.01 * np.arange(10000))).astype(np.complex64).reshape(1, -1)
# the wall time of device time 0, from a clock reading (a few microseconds wide)
before = time.monotonic(); device = usrp.get_time_now().get_real_secs(); after = time.monotonic()
origin = (before + after) / 2 - device
start = device + 0.5
md = uhd.types.TXMetadata()
md.start_of_burst = md.has_time_spec = True
md.time_spec = uhd.types.TimeSpec(start)
sent = 0
while sent < total:
    n = min(buf.shape[1], total - sent)
    md.end_of_burst = sent + n == total
    sent += stream.send(buf[:, :n], md, 5.0)
    md.start_of_burst = md.has_time_spec = False
events, ack = [], None
am = uhd.types.TXAsyncMetadata()
while stream.recv_async_msg(am, 10.0):
    code = str(am.event_code).rsplit(".", 1)[-1]
    if code == "burst_ack":
        ack = (time.monotonic(), am.time_spec.get_real_secs())
        break
    events.append(code)
print(json.dumps({
    "burst_s": total / rate, "ack_device_s": None if ack is None else ack[1] - start,
    "ack_wall_s": None if ack is None else ack[0] - (origin + start), "events": events,
}))
"""


def radio_env(rate: float, pacing: str) -> dict[str, str]:
    """What the runner gives a simulated radio's container (runner/execute.py)."""
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
                status = container.wait(timeout=timeout_s)
                text = container.logs(stdout=True, stderr=True).decode(errors="replace")
                if status["StatusCode"] != 0:
                    raise RuntimeError(f"{container.name} failed:\n{text[-3000:]}")
                logs.append(text)
        finally:
            for container in containers:
                container.remove(force=True)
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
        clean = True
        for way, log, key in (("TX", tx_log, "transmitted"), ("RX", rx_log, "received")):
            found = counts(log)
            errors = {k: v for k, v in found.items() if k in ERRORS and v}
            got = found.get(key, 0) / seconds
            # a sustained rate: no error, and (in real time) the samples the rate asks for
            enough = pacing == "fast" or got >= 0.95 * rate
            clean = clean and not errors and enough
            text = ", ".join(f"{k} {v}" for k, v in errors.items()) or "none"
            print(
                f"{rate / 1e6:>9g} {way:>3} {found.get(key, 0):>11} {got / 1e6:>9.2f}  {text}",
                flush=True,
            )
            if pacing == "fast":
                best = max(best, got) if not errors else best
        if clean and pacing != "fast":
            best = max(best, rate)
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
    rx_drift = rx["wall_s"] - rx["device_s"]
    clock_drift = rx["clock_wall_s"] - rx["clock_device_s"]
    print(f"{seconds:g} s at {rate / 1e6:g} Msps on a simulated USRP (real time)")
    print(
        f"RX: last sample's time spec {rx['device_s']:.6f} s after the first's, in "
        f"{rx['wall_s']:.6f} s of wall time: drift {rx_drift * 1e3:+.3f} ms "
        f"(samples contiguous: {rx['contiguous']}, errors: {rx['errors'] or 'none'})"
    )
    print(
        f"    device clock {rx['clock_device_s']:.6f} s in {rx['clock_wall_s']:.6f} s of wall "
        f"time: drift {clock_drift * 1e3:+.3f} ms"
    )
    ok = abs(rx_drift) <= DRIFT_TARGET_S and abs(clock_drift) <= DRIFT_TARGET_S and rx["contiguous"]
    if tx["ack_device_s"] is None:
        print(f"TX: no burst acknowledgement (events: {tx['events']})")
        ok = False
    else:
        tx_drift = tx["ack_wall_s"] - tx["ack_device_s"]
        print(
            f"TX: a {tx['burst_s']:g} s timed burst ended at device time +{tx['ack_device_s']:.6f} s"
            f", acknowledged at wall time +{tx['ack_wall_s']:.6f} s: {tx_drift * 1e3:+.3f} ms "
            f"(events before: {tx['events'] or 'none'})"
        )
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
