"""``radiops shell`` on a role whose node's radio is simulated (the local default testbed):
the channel emulator is started for that one role as a run starts it, libuhd in the shell
finds the simulated USRP and streams through the emulator, and when the shell ends the
emulator, its network and the node are freed."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.testing.repos import commit_all, copy_from_project, git
from tests.testing.shells import (
    SESSION,
    USER_PROMPT,
    Step,
    assert_node_free,
    in_terminal,
    session_record,
)
from tests.testing.testbed_fixtures import RUN_LABEL

pytestmark = pytest.mark.docker

# a second through the simulated USRP, as any UHD program would take it: where the medium's
# samples begin (the emulator's noise), and their power over the last 100 ms
CAPTURE = (
    "python3 -c 'import uhd, numpy; "
    'u = uhd.usrp.MultiUSRP(""); '
    "s = u.recv_num_samps(1000000, 2.45e9, 1e6, [0], 40)[0]; "
    'print("captured", len(s), "from", numpy.flatnonzero(s)[:1], "at", '
    'round(10 * numpy.log10(numpy.mean(abs(s[-100000:]) ** 2))), "dBFS")\''
)
# a second of a constant at half full scale, sent through the simulated USRP
SEND = (
    "python3 -c 'import uhd, numpy; "
    'u = uhd.usrp.MultiUSRP(""); '
    "u.send_waveform(numpy.full(10000, 0.5, numpy.complex64), 1.0, 2.45e9, 1e6, [0], 50); "
    'print("sent-" + str(6 * 7))\''
)


@pytest.fixture
def repo(tmp_path: Path, docker_clients: dict[str, docker.DockerClient]) -> Iterator[Path]:
    repo = tmp_path / "radio-lab"  # no testbed.yaml: the local default, simulated radios
    for part in ("experiments/tone-link", "images/tone-link", "images/sdr-base", "images/channel"):
        copy_from_project(part, repo / part)
    (repo / ".gitignore").write_text(".radiops/\n")
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "a radio experiment to open a shell in")
    yield repo
    left = docker_clients["default"].containers.list(all=True, filters={"label": SESSION})
    for container in left:
        container.remove(force=True)
    assert not left, "a session's container was left behind"


def shell_on(
    repo: Path, client: docker.DockerClient, role: str, typed: list[Step]
) -> tuple[str, dict[str, list[str]]]:
    """A shell on ``role`` at local1 that types ``typed`` and exits; what the terminal showed
    and, once the prompt showed, the session's and the run-labelled containers and networks
    (and the emulator's log when a step asks for it)."""
    seen: dict[str, list[str]] = {}

    def look(_: subprocess.Popen[bytes]) -> None:
        for label in (SESSION, RUN_LABEL):
            containers = client.containers.list(filters={"label": label})
            seen[label] = sorted(f"{c.name} {c.status}" for c in containers)
        seen["networks"] = sorted(
            n.name or "" for n in client.networks.list(filters={"label": RUN_LABEL})
        )

    steps: list[Step] = [(0.5, look), *typed, (0.5, b"exit\r")]
    args = ["experiments/tone-link", role, "--node", "local1"]
    code, shown = in_terminal(repo, args, steps, timeout=1200, prompt=USER_PROMPT)
    assert code == 0, shown
    assert "Traceback" not in shown, shown
    assert "ended because the shell ended; node local1 is free again" in shown, shown
    # the emulator ran beside the shell's container, on the session's own network
    (emulator,) = seen[RUN_LABEL]
    assert emulator.startswith("radiops-channel-") and emulator.endswith(" running"), seen
    # both the session's (a killed shell's emulator is removed with its container)
    assert seen[SESSION] == [emulator, "radiops-node-local1 running"], seen
    assert len(seen["networks"]) == 1 and seen["networks"][0].startswith("radiops-run-"), seen
    assert session_record(repo, "tone-link")["role"] == role
    # nothing of the session is left: no container, no network, and the node is free
    assert not client.containers.list(all=True, filters={"label": RUN_LABEL})
    assert not client.networks.list(filters={"label": RUN_LABEL})
    assert not client.containers.list(all=True, filters={"label": SESSION})
    assert_node_free(repo, client, "local1")
    return shown, seen


def test_a_shell_on_a_simulated_receiver_captures_the_channel_emulators_medium(
    repo: Path, docker_clients: dict[str, docker.DockerClient]
) -> None:
    typed: list[Step] = [
        (0.2, b"env | grep -c RADIOPS_CHANNEL_RX=tcp://radiops-channel-; uhd_find_devices\r"),
        (0.5, CAPTURE.encode() + b"\r"),
    ]
    shown, _ = shell_on(repo, docker_clients["default"], "rx", typed)
    assert "channel emulator up: 0 TX, 1 RX" in shown, shown
    assert "\r\n1\r\n" in shown, shown  # the emulator's address, in the run's variable
    # libuhd found the node's simulated USRP (the local default's: serial SIM1)
    assert shown.count("-- UHD Device ") == 1, shown
    assert "serial: SIM1" in shown and "name: local1" in shown, shown
    # and a second of the emulator's medium came through it: its noise floor, -80 dBFS
    assert "captured 1000000 from [" in shown and "at -80 dBFS" in shown, shown


def test_a_shell_on_a_simulated_transmitter_sends_into_the_channel_emulator(
    repo: Path, docker_clients: dict[str, docker.DockerClient]
) -> None:
    client = docker_clients["default"]
    logs: list[str] = []

    def emulator_log(_: subprocess.Popen[bytes]) -> None:
        (emulator,) = client.containers.list(filters={"label": RUN_LABEL})
        logs.append(emulator.logs().decode())

    typed: list[Step] = [(0.5, SEND.encode() + b"\r"), (6.0, emulator_log)]
    shown, _ = shell_on(repo, client, "tx", typed)
    assert "channel emulator up: 1 TX, 0 RX" in shown, shown
    assert "sent-42" in shown, shown
    (log,) = logs
    assert "tx tx-0 connected" in log and "tx tx-0 disconnected" in log, log
