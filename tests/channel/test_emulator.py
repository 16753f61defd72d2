"""The channel emulator (images/channel) and its host side (runner/engine/channel.py).

The per-block math is tested directly (images/channel/channel_model.py, no
sockets); the rest builds images/channel on the default engine and sends
real samples through the emulator from TX containers to RX containers on the
run's internal network.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import io
import sys
import tarfile
import time
from collections.abc import Iterator, Mapping, Sequence

import docker
import docker.errors
import numpy as np
import numpy.typing as npt
import pytest
from docker.models.containers import Container

from runner.engine.channel import (
    ENV_RX,
    ENV_TX,
    ENV_TX_BIND,
    ChannelConfig,
    ChannelLink,
    ChannelNetwork,
    config_json,
    emulator_options,
    endpoints,
)
from runner.engine.images import build
from runner.model.errors import EnvironmentProblem, InvalidInput
from runner.model.repo import Repository
from tests.testing.testbed_fixtures import PROJECT, DockerCleanup

sys.path.insert(0, str(PROJECT / "images" / "channel"))

from channel_model import (
    Channel,
    Config,
    ConfigError,
    noise_sigma,
    parse_config,
    run_blocks,
)

Complex = npt.NDArray[np.complex64]
FS = 1e6


def config(
    tx: Sequence[str],
    rx: Sequence[str],
    links: Mapping[str, Mapping[str, ChannelLink]],
    *,
    noise_floor_dbfs: float | None = None,
    seed: int = 0,
    block: int = 4096,
    tx_hosts: Mapping[str, str] | None = None,
) -> ChannelConfig:
    return ChannelConfig(
        sample_rate=FS,
        tx=tuple(tx),
        rx=tuple(rx),
        links=links,
        noise_floor_dbfs=noise_floor_dbfs,
        seed=seed,
        block=block,
        tx_hosts=tx_hosts or {},
    )


def model(channel: ChannelConfig) -> Config:
    """The emulator's own reading of the host's configuration."""
    return parse_config(config_json(channel))


def bpsk(seed: int, length: int) -> npt.NDArray[np.uint8]:
    return np.random.default_rng(seed).integers(0, 2, length, dtype=np.uint8)


def symbols(bits: npt.NDArray[np.uint8]) -> Complex:
    return (1.0 - 2.0 * bits.astype(np.float32)).astype(np.complex64)


def through(
    tx: Complex, *, gain_db: float, delay: int, offset_hz: float, length: int
) -> npt.NDArray[np.complex128]:
    """What one link makes of ``tx``: the model's formula, in float64."""
    n = np.arange(length)
    delayed = np.zeros(length, np.complex128)
    m = n - delay
    inside = (m >= 0) & (m < len(tx))
    delayed[inside] = tx[m[inside]]
    out: npt.NDArray[np.complex128] = (
        10 ** (gain_db / 20) * delayed * np.exp(2j * np.pi * offset_hz * n / FS)
    )
    return out


def power_db(x: npt.NDArray[np.complexfloating]) -> float:
    return float(10 * np.log10(np.mean(np.abs(x) ** 2)))


# -- the per-block math ---------------------------------------------------------------


def test_phase_is_continuous_across_blocks() -> None:
    link = ChannelLink(gain_db=0.0, frequency_offset_hz=1234.5)
    cfg = model(config(["t"], ["r"], {"t": {"r": link}}, block=64))
    out = run_blocks(cfg, [np.ones(64 * 40, np.complex64)])[0]
    n = np.arange(len(out))
    expected = np.exp(2j * np.pi * 1234.5 * n / FS)
    assert np.max(np.abs(out - expected)) < 1e-5
    jumps = np.angle(out[1:] * np.conj(out[:-1]))
    assert np.allclose(jumps, 2 * np.pi * 1234.5 / FS, atol=1e-5)  # no step at 64, 128, ...


def test_phase_does_not_drift_after_many_blocks() -> None:
    link = ChannelLink(gain_db=0.0, frequency_offset_hz=-33333.3)
    channel = Channel(model(config(["t"], ["r"], {"t": {"r": link}}, block=4096)))
    channel.tx_block(0)[:] = 1
    channel.sample = 10**11  # ~28 hours at 1 Msps
    out = channel.step()[0]
    n = 10**11 + np.arange(4096)
    expected = np.exp(2j * np.pi * ((-33333.3 * n / FS) % 1.0))
    assert np.max(np.abs(out - expected)) < 1e-4


@pytest.mark.parametrize("delay", [0, 1, 63, 64, 65, 200])
def test_delay_crosses_block_boundaries(delay: int) -> None:
    tx = symbols(bpsk(1, 64 * 10))
    link = ChannelLink(gain_db=-6.0, delay_samples=delay)
    cfg = model(config(["t"], ["r"], {"t": {"r": link}}, block=64))
    out = run_blocks(cfg, [tx])[0]
    expected = through(tx, gain_db=-6.0, delay=delay, offset_hz=0.0, length=len(out))
    assert np.allclose(out, expected, rtol=0, atol=1e-6)


def test_the_stream_does_not_depend_on_the_block_size() -> None:
    tx = symbols(bpsk(2, 12288))
    link = ChannelLink(gain_db=-3.0, delay_samples=1000, frequency_offset_hz=777.0)
    streams = [
        run_blocks(model(config(["t"], ["r"], {"t": {"r": link}}, block=b)), [tx])[0]
        for b in (64, 1000, 4096)
    ]
    length = min(len(s) for s in streams)
    for stream in streams[1:]:
        assert np.max(np.abs(stream[:length] - streams[0][:length])) < 1e-5


def test_two_transmitters_sum_with_their_own_links() -> None:
    a, b = symbols(bpsk(3, 8192)), symbols(bpsk(4, 8192)) * np.complex64(0.5j)
    links = {
        "a": {"r": ChannelLink(gain_db=-6, delay_samples=10, frequency_offset_hz=500)},
        "b": {"r": ChannelLink(gain_db=-10, delay_samples=3000, frequency_offset_hz=-2000)},
    }
    out = run_blocks(model(config(["a", "b"], ["r"], links, block=1024)), [a, b])[0]
    expected = through(a, gain_db=-6, delay=10, offset_hz=500, length=len(out)) + through(
        b, gain_db=-10, delay=3000, offset_hz=-2000, length=len(out)
    )
    assert np.max(np.abs(out - expected)) < 1e-5


def test_an_unlinked_pair_does_not_couple() -> None:
    links = {"a": {"r0": ChannelLink(gain_db=0)}}
    out = run_blocks(model(config(["a"], ["r0", "r1"], links, block=256)), [symbols(bpsk(5, 512))])
    assert np.any(out[0] != 0)
    assert not np.any(out[1])


def test_noise_has_the_configured_power_and_follows_the_seed() -> None:
    def first_block(seed: int) -> list[Complex]:
        cfg = model(config([], ["r0", "r1"], {}, noise_floor_dbfs=-73.0, seed=seed, block=1 << 16))
        return [block.copy() for block in Channel(cfg).step()]

    r0, r1 = first_block(9)
    assert all(np.array_equal(x, y) for x, y in zip((r0, r1), first_block(9), strict=True))
    assert not np.array_equal(r0, first_block(10)[0])
    assert abs(power_db(r0) - -73.0) < 0.1
    assert abs(np.var(r0.real) / np.var(r0.imag) - 1) < 0.05  # half on I, half on Q
    power = noise_sigma(-73.0) ** 2 * 2
    assert abs(np.vdot(r0, r1)) / len(r0) < 0.05 * power  # each RX its own noise


def test_gain_and_snr_follow_the_link_and_the_noise_floor() -> None:
    tx = symbols(bpsk(6, 1 << 16))
    link = ChannelLink(gain_db=-20, delay_samples=0)
    cfg = model(config(["t"], ["r"], {"t": {"r": link}}, noise_floor_dbfs=-50.0, seed=3))
    out = run_blocks(cfg, [tx])[0]
    residual = out - through(tx, gain_db=-20, delay=0, offset_hz=0, length=len(out))
    assert abs(power_db(residual) - -50.0) < 0.1
    assert abs(power_db(out - residual) - -20.0) < 0.01


# -- configuration --------------------------------------------------------------------


def test_the_emulator_reads_what_the_host_writes() -> None:
    link = ChannelLink(gain_db=-30.5, delay_samples=10, frequency_offset_hz=1000.0)
    host = config(["tx-0", "tx-1"], ["rx-0"], {"tx-0": {"rx-0": link}}, seed=42)
    read = parse_config(config_json(host))
    assert (read.sample_rate, read.block, read.seed, read.noise_floor_dbfs) == (FS, 4096, 42, None)
    assert (read.tx, read.rx) == (("tx-0", "tx-1"), ("rx-0",))
    assert read.links[("tx-0", "rx-0")].gain_db == -30.5
    assert read.links[("tx-0", "rx-0")].delay_samples == 10
    assert read.links[("tx-0", "rx-0")].frequency_offset_hz == 1000.0
    assert read.tx_hosts == {}
    hosts = {"tx-1": "radiops-node-local2"}
    assert parse_config(config_json(dataclasses.replace(host, tx_hosts=hosts))).tx_hosts == hosts


def test_tx_hosts_must_name_transmitters_and_hosts() -> None:
    with pytest.raises(InvalidInput, match="tx_hosts: rx-0 -> h: not a tx"):
        config(["tx-0"], ["rx-0"], {}, tx_hosts={"rx-0": "h"})
    with pytest.raises(InvalidInput, match="tx_hosts: tx-0 -> a b"):
        config(["tx-0"], ["rx-0"], {}, tx_hosts={"tx-0": "a b"})
    with pytest.raises(ConfigError, match="tx_hosts: must map names of tx to host names"):
        parse_config('{"sample_rate": 1, "tx": ["t"], "rx": [], "tx_hosts": {"t": "x;rm"}}')


def test_the_emulator_lists_every_problem_of_a_configuration() -> None:
    bad = (
        '{"sample_rate": -1, "block": 0, "seed": "x", "tx": ["a", "a"], "rx": ["r"],'
        ' "colour": 1, "links": {"a": {"q": {"gain_db": "loud", "delay_samples": -2}}}}'
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(bad)
    message = str(caught.value)
    for part in (
        "colour: unknown key",
        "sample_rate: must be a positive number",
        "block: must be between",
        "seed: must be an integer",
        "tx: names must be unique",
        "links.a.q: not an RX",
        "links.a.q.gain_db: must be a number",
        "links.a.q.delay_samples: must be between",
    ):
        assert part in message
    with pytest.raises(ConfigError, match="sample_rate: required"):
        parse_config("{}")


def test_the_host_refuses_a_bad_configuration() -> None:
    with pytest.raises(InvalidInput) as caught:
        ChannelConfig(
            sample_rate=0.0,
            tx=("a",),
            rx=("r",),
            links={"b": {"r": ChannelLink(gain_db=0, delay_samples=-1)}},
        )
    assert "sample_rate" in str(caught.value)
    assert "b is not a tx" in str(caught.value)
    assert "delay_samples must be between 0 and 16777216" in str(caught.value)


def test_every_instance_gets_its_own_port() -> None:
    cfg = config(["tx-0", "tx-1", "both-0"], ["rx-0", "both-0"], {})
    ep = endpoints("20261121T233100Z-1a2b3c4d", cfg)
    host = "radiops-channel-20261121T233100Z-1a2b3c4d"
    assert ep.network == "radiops-run-20261121T233100Z-1a2b3c4d"
    bind = {ENV_TX_BIND: "tcp://*:5600"}  # in the TX's own container: no port clash
    assert ep.environment("tx-1") == {ENV_TX: f"tcp://{host}:5601", **bind}
    assert ep.environment("rx-0") == {ENV_RX: f"tcp://{host}:5700"}
    assert ep.environment("both-0") == {
        ENV_TX: f"tcp://{host}:5602",
        **bind,
        ENV_RX: f"tcp://{host}:5701",
    }
    assert ep.environment("other-0") == {}


def test_the_emulator_container_is_hardened() -> None:
    options = emulator_options("r1", "sha256:abc", config(["t"], ["r"], {}), {"x": "y"})
    assert options["user"] == "65534:65534"
    assert options["cap_drop"] == ["ALL"]
    assert options["security_opt"] == ["no-new-privileges"]
    assert options["read_only"] is True
    assert options["privileged"] is False
    assert options["network"] == "radiops-run-r1"
    assert options["labels"]["org.radiops.run"] == "r1"
    assert options["labels"]["x"] == "y"
    assert "ports" not in options  # nothing is published on the host


# -- through the emulator, in containers ----------------------------------------------

TX_SCRIPT = """
import base64, os, time
import numpy as np, zmq
bits = np.unpackbits(np.frombuffer(base64.b64decode(os.environ["TX_BITS"]), np.uint8))
x = (1.0 - 2.0 * bits.astype(np.float32)).astype(np.complex64)
x *= np.complex64(complex(os.environ.get("TX_SCALE", "1")))
x = np.tile(x, int(os.environ.get("TX_REPEAT", "1")))
chunk, pause = int(os.environ["TX_CHUNK"]), float(os.environ["TX_PAUSE"])
time.sleep(float(os.environ["TX_START"]))
context = zmq.Context()
s = context.socket(zmq.PUSH)
s.connect(os.environ["RADIOPS_CHANNEL_TX"])
if os.environ.get("TX_BYTES"):  # messages that split samples (not from GNU Radio)
    data, size = x.tobytes(), int(os.environ["TX_BYTES"])
    for k in range(0, len(data), size):
        s.send(data[k : k + size])
else:
    for k in range(0, len(x), chunk):
        s.send(x[k : k + chunk])
        time.sleep(pause)
s.close(linger=-1)
context.term()  # returns once every queued message is in the kernel: exiting earlier loses them
# and the kernel's part (and the end of the stream) would go with this container's
# network when it exits: stay until the test removes the container
time.sleep(600)
"""

RX_SCRIPT = """
import os
import numpy as np, zmq
n = int(os.environ["RX_SAMPLES"])
s = zmq.Context().socket(zmq.PULL)
s.setsockopt(zmq.RCVHWM, 8)  # little queued here: a receiver that left is noticed
s.connect(os.environ["RADIOPS_CHANNEL_RX"])
out = np.empty(n, np.complex64)
k = 0
while k < n:
    m = np.frombuffer(s.recv(), np.complex64)[: n - k]
    out[k : k + len(m)] = m
    k += len(m)
np.save("/tmp/rx.npy", out)
"""


@pytest.fixture(scope="module")
def channel_image(docker_clients: dict[str, docker.DockerClient]) -> Iterator[str]:
    """images/channel on the default engine; removed afterwards if this module built it."""
    client = docker_clients["default"]
    built = build(client, Repository(root=PROJECT), "images/channel", progress=lambda _: None)
    yield built.image_id
    if built.built:
        with contextlib.suppress(docker.errors.NotFound):
            client.images.remove(built.image_id, force=True)


def start_role(
    client: docker.DockerClient,
    cleanup: DockerCleanup,
    image: str,
    network: str,
    script: str,
    environment: Mapping[str, str],
) -> Container:
    container = client.containers.create(
        image,
        entrypoint=["python3", "-c", script],
        environment=dict(environment),
        network_mode=network,
        user="65534:65534",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        labels=cleanup.labels,
        detach=True,
    )
    container.start()
    return container


def received(container: Container) -> Complex:
    status = container.wait(timeout=120)
    logs = container.logs().decode(errors="replace")
    assert status["StatusCode"] == 0, logs
    stream, _ = container.get_archive("/tmp/rx.npy")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        member = archive.extractfile("rx.npy")
        assert member is not None
        data: Complex = np.load(io.BytesIO(member.read()))
    return data


def transmit(
    bits: npt.NDArray[np.uint8],
    *,
    scale: complex = 1,
    start: float = 0.0,
    chunk: int = 1000,
    pause: float = 0.0,
    split_bytes: int | None = None,
) -> dict[str, str]:
    return {
        "TX_BYTES": str(split_bytes or ""),
        "TX_BITS": base64.b64encode(np.packbits(bits).tobytes()).decode(),
        "TX_SCALE": str(scale),
        "TX_START": str(start),
        "TX_CHUNK": str(chunk),
        "TX_PAUSE": str(pause),
    }


def run_through(
    client: docker.DockerClient,
    cleanup: DockerCleanup,
    image: str,
    channel: ChannelConfig,
    senders: Mapping[str, dict[str, str]],
    samples: int | Mapping[str, int],
) -> list[Complex]:
    """Start the emulator, the TX and RX containers; what each RX received."""

    def wanted(name: str) -> int:
        return samples if isinstance(samples, int) else samples[name]

    run_id = cleanup.unique("chan")
    with ChannelNetwork(
        client, run_id=run_id, image=image, config=channel, labels=cleanup.labels
    ) as ep:
        roles: list[Container] = []
        try:
            receivers = [
                start_role(
                    client,
                    cleanup,
                    image,
                    ep.network,
                    RX_SCRIPT,
                    {**ep.environment(name), "RX_SAMPLES": str(wanted(name))},
                )
                for name in channel.rx
            ]
            roles += receivers
            for name in channel.tx:
                roles.append(
                    start_role(
                        client,
                        cleanup,
                        image,
                        ep.network,
                        TX_SCRIPT,
                        {**ep.environment(name), **senders[name]},
                    )
                )
            return [received(container) for container in receivers]
        finally:
            for container in roles:
                container.remove(force=True)


def estimate_offset_hz(z: npt.NDArray[np.complexfloating]) -> float:
    """The frequency of a noisy tone (phase increment of the lag-1 autocorrelation)."""
    return float(np.angle(np.sum(z[1:] * np.conj(z[:-1]))) * FS / (2 * np.pi))


@pytest.mark.docker
def test_a_link_applies_gain_delay_offset_and_noise(
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
    channel_image: str,
) -> None:
    gain_db, delay, offset_hz, floor = -20.0, 5000, 1000.0, -60.0
    bits = bpsk(11, 1 << 16)
    tx = symbols(bits)
    link = ChannelLink(gain_db=gain_db, delay_samples=delay, frequency_offset_hz=offset_hz)
    channel = config(["tx-0"], ["rx-0"], {"tx-0": {"rx-0": link}}, noise_floor_dbfs=floor, seed=5)
    length = delay + len(tx) + 8192
    rx = run_through(
        docker_clients["default"],
        docker_cleanup,
        channel_image,
        channel,
        {"tx-0": transmit(bits)},
        length,
    )[0].astype(np.complex128)

    # measured without knowing the link: offset from the squared BPSK (a tone at
    # twice the offset), delay by correlation after removing the offset
    size = 1 << 20
    spectrum = np.abs(np.fft.fft(rx**2, size))
    coarse = np.fft.fftfreq(size, 1 / FS)[np.argmax(spectrum)] / 2
    n = np.arange(length)
    derotated = rx * np.exp(-2j * np.pi * coarse * n / FS)
    corr = np.fft.ifft(np.fft.fft(derotated, size) * np.conj(np.fft.fft(tx, size)))
    measured_delay = int(np.argmax(np.abs(corr[: length - len(tx)])))
    assert measured_delay == delay
    z = rx[delay : delay + len(tx)] * tx  # the BPSK removed: a tone at the offset
    measured_offset = estimate_offset_hz(z)
    assert abs(measured_offset - offset_hz) < 0.01 * abs(offset_hz)
    tone = np.exp(2j * np.pi * measured_offset * n[delay : delay + len(tx)] / FS)
    amplitude = np.mean(z * np.conj(tone))
    snr_db = 10 * np.log10(abs(amplitude) ** 2 / np.mean(np.abs(z - amplitude * tone) ** 2))
    assert abs(20 * np.log10(abs(amplitude)) - gain_db) < 0.05
    assert abs(snr_db - (0.0 + gain_db - floor)) < 0.5

    # and sample by sample: what is left after the model is exactly the noise floor,
    # before the TX starts, while it sends (phase continuous over 16 blocks),
    # and after it left (silent from the end of what it sent)
    residual = rx - through(tx, gain_db=gain_db, delay=delay, offset_hz=offset_hz, length=length)
    for part in (residual[:delay], residual[delay : delay + len(tx)], residual[-8000:]):
        assert abs(power_db(part) - floor) < 0.5
    assert abs(power_db(residual) - floor) < 0.05


@pytest.mark.docker
def test_two_transmitters_sum_even_when_one_is_slow(
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
    channel_image: str,
) -> None:
    a, b = bpsk(21, 20000), bpsk(22, 30000)
    links = {
        "tx-0": {"rx-0": ChannelLink(gain_db=-6, delay_samples=100, frequency_offset_hz=500)},
        "tx-1": {"rx-0": ChannelLink(gain_db=-10, delay_samples=7000, frequency_offset_hz=-2e3)},
    }
    channel = config(["tx-0", "tx-1"], ["rx-0"], links, block=4096)
    length = 40000
    rx = run_through(
        docker_clients["default"],
        docker_cleanup,
        channel_image,
        channel,
        {
            "tx-0": transmit(a, split_bytes=3001),  # odd: samples split across messages
            # starts a second late and trickles: tx-0 has long finished by then
            "tx-1": transmit(b, scale=0.5j, start=1.0, chunk=777, pause=0.002),
        },
        length,
    )[0]
    expected = through(symbols(a), gain_db=-6, delay=100, offset_hz=500, length=length) + through(
        symbols(b) * np.complex64(0.5j), gain_db=-10, delay=7000, offset_hz=-2e3, length=length
    )
    assert np.max(np.abs(rx - expected)) < 1e-5


@pytest.mark.docker
def test_a_receiver_that_leaves_does_not_stall_the_others(
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
    channel_image: str,
) -> None:
    bits = bpsk(41, 200000)
    link = ChannelLink(gain_db=-3, delay_samples=50, frequency_offset_hz=-300)
    channel = config(["tx-0"], ["rx-0", "rx-1"], {"tx-0": {"rx-0": link, "rx-1": link}})
    # 32 MB for rx-1: far more than the queues towards rx-0 could hold once it left
    length = 4_000_000
    transmitter = {**transmit(bits, chunk=4096), "TX_REPEAT": "20"}
    short, long = run_through(
        docker_clients["default"],
        docker_cleanup,
        channel_image,
        channel,
        {"tx-0": transmitter},
        {"rx-0": 5000, "rx-1": length},
    )
    tx = np.tile(symbols(bits), 20)
    expected = through(tx, gain_db=-3, delay=50, offset_hz=-300, length=length)
    assert np.max(np.abs(short - expected[:5000])) < 1e-5
    assert np.max(np.abs(long - expected)) < 1e-5


@pytest.mark.docker
def test_the_same_seed_gives_the_same_samples(
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
    channel_image: str,
) -> None:
    bits = bpsk(31, 10000)
    link = ChannelLink(gain_db=-10, delay_samples=321, frequency_offset_hz=250)
    channel = config(
        ["tx-0"],
        ["rx-0", "rx-1"],
        {"tx-0": {"rx-0": link, "rx-1": link}},
        noise_floor_dbfs=-40.0,
        seed=77,
        block=1024,
    )
    runs = [
        run_through(
            docker_clients["default"],
            docker_cleanup,
            channel_image,
            channel,
            {"tx-0": transmit(bits, chunk=555)},
            16384,
        )
        for _ in range(2)
    ]
    assert np.array_equal(runs[0][0], runs[1][0])
    assert np.array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][0], runs[0][1])  # each RX its own noise


@pytest.mark.docker
def test_the_network_is_internal_and_everything_is_removed(
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
    channel_image: str,
) -> None:
    client = docker_clients["default"]
    run_id = docker_cleanup.unique("chan")
    network = ChannelNetwork(
        client,
        run_id=run_id,
        image=channel_image,
        config=config(["tx-0"], ["rx-0"], {}),
        labels=docker_cleanup.labels,
    )
    with network as ep:
        inspected = client.networks.get(ep.network).attrs
        assert inspected["Internal"] is True
        assert inspected["Labels"]["org.radiops.run"] == run_id
        emulator = client.containers.get(ep.emulator).attrs
        host = emulator["HostConfig"]
        assert emulator["Config"]["User"] == "65534:65534"
        assert host["CapDrop"] == ["ALL"]
        assert host["SecurityOpt"] == ["no-new-privileges"]
        assert host["ReadonlyRootfs"] is True
        assert host["Privileged"] is False
        assert not host.get("PortBindings")
        assert list(emulator["NetworkSettings"]["Networks"]) == [ep.network]
        # a role container left attached does not keep the network alive
        start_role(
            client, docker_cleanup, channel_image, ep.network, "import time; time.sleep(60)", {}
        )
    assert "channel: ready" in network.log
    assert "channel: stopped" in network.log  # SIGTERM: a clean exit
    with pytest.raises(docker.errors.NotFound):
        client.networks.get(ep.network)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(ep.emulator)


@pytest.mark.docker
def test_everything_is_removed_when_the_run_fails(
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
    channel_image: str,
) -> None:
    client = docker_clients["default"]
    run_id = docker_cleanup.unique("chan")
    channel = config(["tx-0"], ["rx-0"], {})
    with (
        pytest.raises(RuntimeError, match="the run broke"),
        ChannelNetwork(
            client, run_id=run_id, image=channel_image, config=channel, labels=docker_cleanup.labels
        ),
    ):
        raise RuntimeError("the run broke")
    # an image that is no emulator: it exits at once, and nothing is left behind
    with (
        pytest.raises(EnvironmentProblem, match="exited before it was ready"),
        ChannelNetwork(
            client,
            run_id=run_id,
            image="debian:bookworm-slim",
            config=channel,
            labels=docker_cleanup.labels,
        ),
    ):
        pass
    assert not client.networks.list(names=[f"radiops-run-{run_id}"])
    assert not client.containers.list(all=True, filters={"name": f"radiops-channel-{run_id}"})


@pytest.mark.docker
def test_the_emulator_stops_at_once_when_a_transmitters_host_is_gone(
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
    channel_image: str,
) -> None:
    # A TX that binds its own port (tx_hosts) exits before the run ends: its host name
    # vanishes, and libzmq keeps resolving it. Docker's DNS answers a vanished name only
    # after seconds, and waiting for that at exit made `docker stop` take up to its 10 s
    # in most bpsk-ber points. Stopped with 3 s to spare, the emulator must exit by itself.
    client = docker_clients["default"]
    channel = config(["tx-0"], ["rx-0"], {}, tx_hosts={"tx-0": "a-transmitter-that-has-gone"})
    network = ChannelNetwork(
        client,
        run_id=docker_cleanup.unique("chan"),
        image=channel_image,
        config=channel,
        labels=docker_cleanup.labels,
    )
    with network as ep:
        emulator = client.containers.get(ep.emulator)
        time.sleep(2)  # a few reconnections to the vanished host
        emulator.stop(timeout=3)
        emulator.reload()
        state = emulator.attrs["State"]
    assert state["ExitCode"] == 0, state  # 137: killed at the end of the 3 s
    assert "channel: stopped" in network.log
