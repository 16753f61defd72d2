"""Samples per second through the channel emulator: one TX, one RX, against plain forwarding.

Everything runs as a run would: containers from images/channel on the
run's internal network (runner.engine.channel.ChannelNetwork), on the default
engine. A TX container pushes one prepared buffer of complex64 as fast as
ZeroMQ takes it; an RX container pulls, skips WARMUP seconds, then counts
samples for SECONDS. The emulator applies a full link (gain, delay,
frequency offset) and AWGN. Baseline: the same TX and RX through a
container that forwards each message from a PULL to a PUSH socket with no
processing (zero-copy), on a network of its own. Printed: sustained
samples/s per block size (the TX sends one block per message), the
baseline's, and their ratio. Target: at least 10 Msps on a 2-core machine.

Usage: .venv/bin/python bench/channel.py [SECONDS] [BLOCK...]   (default 5; 4096 16384 65536)
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container

ROOT = Path(__file__).resolve().parent.parent
TARGET_SPS = 10e6  # complex64 samples/s: a modest real capture
sys.path.insert(0, str(ROOT))

from runner.engine.channel import ChannelConfig, ChannelLink, ChannelNetwork  # noqa: E402
from runner.engine.images import build  # noqa: E402
from runner.model.repo import Repository  # noqa: E402

ENGINE = "unix:///var/run/docker.sock"
LABELS = {"radiops.bench": "channel"}
WARMUP_S = 1.5

TX = """
import os, numpy as np, zmq
block = int(os.environ["BLOCK"])
x = (np.random.default_rng(1).standard_normal(2 * block, np.float32) * 0.1).view(np.complex64)
s = zmq.Context().socket(zmq.PUSH)
s.connect(os.environ["RADIOPS_CHANNEL_TX"])
while True:
    s.send(x, copy=False)  # the buffer never changes: no copy needed
"""

RX = """
import json, os, time, zmq
s = zmq.Context().socket(zmq.PULL)
s.connect(os.environ["RADIOPS_CHANNEL_RX"])
s.recv()
warm = time.monotonic() + float(os.environ["WARMUP"])
while time.monotonic() < warm:
    s.recv(copy=False)
start, end, count = time.monotonic(), time.monotonic() + float(os.environ["SECONDS"]), 0
while True:
    count += len(s.recv(copy=False)) // 8
    now = time.monotonic()
    if now >= end:
        break
print(json.dumps({"samples": count, "seconds": now - start}))
"""

FORWARD = """
import zmq
c = zmq.Context()
pull, push = c.socket(zmq.PULL), c.socket(zmq.PUSH)
pull.bind("tcp://*:5600")
push.bind("tcp://*:5700")
print("channel: ready", flush=True)
while True:
    push.send(pull.recv(copy=False), copy=False)
"""


def role(
    client: docker.DockerClient,
    image: str,
    network: str,
    script: str,
    env: dict[str, str],
    name: str | None = None,
) -> Container:
    container = client.containers.run(
        image,
        name=name,
        entrypoint=["python3", "-c", script],
        environment=env,
        network_mode=network,
        user="65534:65534",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        labels=LABELS,
        detach=True,
    )
    return container


def measure(
    client: docker.DockerClient,
    image: str,
    network: str,
    tx_address: str,
    rx_address: str,
    block: int,
    seconds: float,
) -> float:
    """Samples/s the RX sustained."""
    rx = role(
        client,
        image,
        network,
        RX,
        {"RADIOPS_CHANNEL_RX": rx_address, "WARMUP": str(WARMUP_S), "SECONDS": str(seconds)},
    )
    tx = role(client, image, network, TX, {"RADIOPS_CHANNEL_TX": tx_address, "BLOCK": str(block)})
    try:
        status = rx.wait(timeout=seconds + 120)
        output = rx.logs(stdout=True, stderr=True).decode(errors="replace")
        if status["StatusCode"] != 0:
            raise RuntimeError(f"the RX failed:\n{output}")
        result = json.loads(output.strip().splitlines()[-1])
        return float(result["samples"]) / float(result["seconds"])
    finally:
        for container in (tx, rx):
            container.remove(force=True)


def emulator_rate(
    client: docker.DockerClient, image: str, block: int, seconds: float
) -> tuple[float, str]:
    config = ChannelConfig(
        sample_rate=10e6,
        tx=("tx-0",),
        rx=("rx-0",),
        links={
            "tx-0": {"rx-0": ChannelLink(gain_db=-10.0, delay_samples=17, frequency_offset_hz=1e3)}
        },
        noise_floor_dbfs=-80.0,
        seed=1,
        block=block,
    )
    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    channel = ChannelNetwork(client, run_id=run_id, image=image, config=config, labels=LABELS)
    with channel as ep:
        rate = measure(client, image, ep.network, ep.tx["tx-0"], ep.rx["rx-0"], block, seconds)
    lines = [line for line in channel.log.splitlines() if "Msps" in line]
    return rate, (lines[-1] if lines else "")


def baseline_rate(client: docker.DockerClient, image: str, block: int, seconds: float) -> float:
    name = f"radiops-bench-forward-{uuid.uuid4().hex[:8]}"
    network = client.networks.create(name, driver="bridge", internal=True, labels=LABELS)
    try:
        forward = role(client, image, name, FORWARD, {}, name=name)  # host name = its name
        try:
            address = f"tcp://{name}"
            return measure(
                client, image, name, f"{address}:5600", f"{address}:5700", block, seconds
            )
        finally:
            forward.remove(force=True)
    finally:
        network.remove()


def main(argv: list[str]) -> int:
    seconds = float(argv[0]) if argv else 5.0
    blocks = [int(a) for a in argv[1:]] or [4096, 16384, 65536]
    client = docker.DockerClient(base_url=ENGINE, version="auto", timeout=600)
    built = build(client, Repository(root=ROOT), "images/channel", progress=lambda _: None)
    print(f"images/channel {built.local_ref}; {seconds:g} s per measurement after {WARMUP_S} s")
    print("emulator: 1 TX -> 1 RX, gain -10 dB, delay 17, offset 1 kHz, noise -80 dBFS")
    print(f"{'block':>7} {'emulator Msps':>14} {'baseline Msps':>14} {'ratio':>6}")
    slowest = float("inf")
    for block in blocks:
        rate, log = emulator_rate(client, built.image_id, block, seconds)
        base = baseline_rate(client, built.image_id, block, seconds)
        print(f"{block:>7} {rate / 1e6:>14.1f} {base / 1e6:>14.1f} {rate / base:>6.2f}", flush=True)
        if log:
            print(f"        (emulator log: {log.removeprefix('channel: ')})")
        slowest = min(slowest, rate)
    met = slowest >= TARGET_SPS
    print(
        f"target {TARGET_SPS / 1e6:g} Msps sustained: {'met' if met else 'MISSED'} "
        f"(slowest block size: {slowest / 1e6:.1f} Msps)"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
