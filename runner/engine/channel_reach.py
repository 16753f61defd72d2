"""Can the run's containers reach the channel emulator? Checked once its network is up (on
Podman), and read afterwards from the emulator's log (every engine).

Docker sets a host's FORWARD policy to DROP, bridged frames go through iptables, and
netavark 1.4 adds no FORWARD rule for an internal network: on a Podman node of a host
that also runs Docker, containers on a run's network cannot reach each other, and the
radios never reach the emulator (the run then fails late: "no tone heard").

The check costs one container on the run's network, from the emulator's image: a TCP
connection to a port of the emulator nothing listens on. Refused means the packets went
both ways (the emulator's ports, and so its state, are never touched); a timeout means
the network drops them. Measured on this machine's Podman node: 0.33 to 0.59 s (median
0.41 s of 5); dropped traffic costs :data:`CONNECT_TIMEOUT_S` more.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import suppress

import docker
from docker.models.containers import Container

from runner.engine.engines import ENGINE_CALL_ERRORS, ENGINE_ERRORS
from runner.engine.hardening import hardened
from runner.model.errors import EnvironmentProblem

CONNECT_TIMEOUT_S = 2
CLOSED_PORT = 9  # discard: the emulator listens on 5600+ and 5700+ only
UNREACHED = 3  # the probe's exit status when the connection timed out
_PROBE = (
    "import socket, sys\n"
    "s = socket.socket(); s.settimeout(float(sys.argv[3]))\n"
    "try:\n    s.connect((sys.argv[1], int(sys.argv[2])))\n"
    "except ConnectionRefusedError:\n    pass\n"
    f"except OSError:\n    sys.exit({UNREACHED})\n"
)
PODMAN_FORWARD_HINT = (
    "on a Podman node of a host that also runs Docker, the host's firewall drops traffic "
    "within Podman's internal networks (Docker's FORWARD policy is DROP; netavark adds no "
    "rule for them): allow it on that host with 'iptables -I FORWARD -m physdev "
    "--physdev-is-bridged -i podman+ -o podman+ -j ACCEPT' (the local testbed's "
    "'RADIOPS_TESTBED_PODMAN=1 scripts/testbed up' adds it)"
)


def check_reach(
    client: docker.DockerClient,
    emulator: Container,
    *,
    network: str,
    image: str,
    labels: Mapping[str, str],
) -> None:
    """Raise EnvironmentProblem when a container on ``network`` cannot reach the emulator."""
    emulator.reload()
    address = emulator.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
    try:
        probe = client.containers.create(
            **hardened(),
            image=image,
            entrypoint=["python3", "-c", _PROBE],
            command=[address, str(CLOSED_PORT), str(CONNECT_TIMEOUT_S)],
            network=network,
            user="65534:65534",
            read_only=True,
            labels=dict(labels),
        )
    except ENGINE_CALL_ERRORS as exc:
        raise EnvironmentProblem(f"cannot create the network check of {network}: {exc}") from None
    try:
        probe.start()
        status = int(probe.wait(timeout=CONNECT_TIMEOUT_S + 30)["StatusCode"])
        output = probe.logs().decode("utf-8", "replace").strip()
    except (*ENGINE_ERRORS, ValueError) as exc:
        raise EnvironmentProblem(f"the network check of {network} did not finish: {exc}") from None
    finally:
        with suppress(*ENGINE_ERRORS):
            probe.remove(force=True)
    if status == UNREACHED:
        raise EnvironmentProblem(
            f"containers on the run's network {network} cannot reach each other: a connection "
            f"to the channel emulator ({address}) timed out after {CONNECT_TIMEOUT_S} s, so no "
            f"radio would reach it; {PODMAN_FORWARD_HINT}"
        )
    if status != 0:
        raise EnvironmentProblem(f"the network check of {network} failed ({status}): {output}")


def unreached_ports(tx: Sequence[str], rx: Sequence[str], log: str) -> list[str]:
    """The emulator's ports (``tx tx-0``) that no container ever connected to, by its log."""
    said = set(re.findall(r"^channel: ((?:tx|rx) \S+) connected$", log, re.MULTILINE))
    return [
        port for port in (*(f"tx {n}" for n in tx), *(f"rx {n}" for n in rx)) if port not in said
    ]


def unreached_warning(
    tx: Sequence[str], rx: Sequence[str], log: str, *, podman: bool
) -> str | None:
    """What a run's record says when radios never reached the emulator; None when all did."""
    missing = unreached_ports(tx, rx, log)
    if not missing:
        return None
    text = f"no container ever connected to its port(s) {', '.join(missing)}"
    if podman and len(missing) == len(tx) + len(rx):
        text += f"; if the radios could not reach it: {PODMAN_FORWARD_HINT}"
    return text
