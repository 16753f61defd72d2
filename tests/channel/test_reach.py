"""Whether a run's containers reach the channel emulator (runner/engine/channel_reach.py):
checked when its network opens (asked for on Podman), and said after the run from the
emulator's log. The dropped case is a real firewall rule, in Docker's DOCKER-USER chain,
for the emulator's address and the checked port only, removed at the end."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator

import docker
import docker.errors
import pytest

from runner.engine.channel import ChannelConfig, ChannelNetwork
from runner.engine.channel_reach import (
    CLOSED_PORT,
    CONNECT_TIMEOUT_S,
    PODMAN_FORWARD_HINT,
    check_reach,
    unreached_ports,
    unreached_warning,
)
from runner.engine.images import build
from runner.model.errors import EnvironmentProblem
from runner.model.repo import Repository
from tests.testing.testbed_fixtures import PROJECT, DockerCleanup

# the emulator's own words (images/channel/channel_emulator.py), as a run's log has them
LOG = """\
channel: ready: 1 TX on ports 5600+, 2 RX on ports 5700+, block 4096
channel: rx rx-0 connected
channel: tx tx-0 connected
channel: rx rx-0 disconnected
channel: stopped: 1402 blocks in 7.5 s
"""


def test_the_ports_no_container_connected_to_are_read_from_the_emulators_log() -> None:
    assert unreached_ports(["tx-0"], ["rx-0", "rx-1"], LOG) == ["rx rx-1"]
    assert unreached_ports(["tx-0"], ["rx-0"], LOG) == []
    assert unreached_warning(["tx-0"], ["rx-0"], LOG, podman=True) is None
    one = unreached_warning(["tx-0"], ["rx-0", "rx-1"], LOG, podman=True)
    assert one is not None and "rx rx-1" in one and "iptables" not in one  # others got there
    silent = "channel: ready: 1 TX\nchannel: stopped\n"
    on_docker = unreached_warning(["tx-0"], ["rx-0"], silent, podman=False)
    assert on_docker is not None and "tx tx-0, rx rx-0" in on_docker
    assert "iptables" not in on_docker
    on_podman = unreached_warning(["tx-0"], ["rx-0"], silent, podman=True)
    assert on_podman is not None and PODMAN_FORWARD_HINT in on_podman


@pytest.fixture(scope="module")
def channel_image(docker_clients: dict[str, docker.DockerClient]) -> Iterator[str]:
    """images/channel on the default engine; removed afterwards if this module built it."""
    client = docker_clients["default"]
    built = build(client, Repository(root=PROJECT), "images/channel", progress=lambda _: None)
    yield built.image_id
    if built.built:
        with contextlib.suppress(docker.errors.NotFound):
            client.images.remove(built.image_id, force=True)


@contextlib.contextmanager
def dropped(address: str) -> Iterator[None]:
    """This host's firewall drops TCP to ``address`` on the checked port while it lasts."""
    rule = ["DOCKER-USER", "-d", address, "-p", "tcp", "--dport", str(CLOSED_PORT), "-j", "DROP"]
    subprocess.run(["iptables", "-w", "5", "-I", *rule], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["iptables", "-w", "5", "-D", *rule], check=False, capture_output=True)


@pytest.mark.docker
def test_the_network_check_passes_on_a_working_network_and_names_the_fix_when_dropped(
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
    channel_image: str,
) -> None:
    client = docker_clients["default"]
    run_id = docker_cleanup.unique("reach")
    network = ChannelNetwork(
        client,
        run_id=run_id,
        image=channel_image,
        config=ChannelConfig(sample_rate=1e6, tx=("tx-0",), rx=("rx-0",), links={}),
        labels=docker_cleanup.labels,
        reach_check=True,
    )
    with network as ep:  # opening checked it: a working network passes
        emulator = client.containers.get(ep.emulator)
        address = emulator.attrs["NetworkSettings"]["Networks"][ep.network]["IPAddress"]
        labels = {**docker_cleanup.labels, "org.radiops.run": run_id}
        began = time.monotonic()
        check_reach(client, emulator, network=ep.network, image=channel_image, labels=labels)
        passed_s = time.monotonic() - began
        with dropped(address), pytest.raises(EnvironmentProblem) as raised:
            check_reach(client, emulator, network=ep.network, image=channel_image, labels=labels)
        assert f"{ep.network} cannot reach each other" in str(raised.value)
        assert PODMAN_FORWARD_HINT in str(raised.value)
        check_reach(client, emulator, network=ep.network, image=channel_image, labels=labels)
        # the check never touched the emulator's ports: no radio is said to have connected
        log = emulator.logs().decode()
        assert unreached_ports(("tx-0",), ("rx-0",), log) == ["tx tx-0", "rx rx-0"]
    # each check's container was removed
    assert not client.containers.list(all=True, filters={"label": f"org.radiops.run={run_id}"})
    assert passed_s < CONNECT_TIMEOUT_S  # refused at once, not timed out
