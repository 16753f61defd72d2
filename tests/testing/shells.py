"""``radiops shell`` driven through a pseudo-terminal as a person would, and what it leaves."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import docker

from runner.model.schedule import reservation_name
from tests.testing.repos import radiops
from tests.testing.testbed_fixtures import PROJECT

ANNOUNCED = b"exit the shell to free the node"
ROOT_PROMPT = b"# "  # Debian's sh as root
USER_PROMPT = b"$ "  # Debian's sh as another user (images/sdr-base runs as 65534)
SESSION = "org.radiops.session"

Step = tuple[float, bytes | Callable[["subprocess.Popen[bytes]"], None]]


def in_terminal(
    repo: Path,
    args: Sequence[str],
    steps: Sequence[Step],
    timeout: float = 300,
    prompt: bytes = ROOT_PROMPT,
) -> tuple[int, str]:
    """``radiops shell ARGS`` on a pseudo-terminal; once the shell's ``prompt`` shows, each
    step waits its seconds then types its bytes (or looks around, while the shell is open).
    The exit code and all the terminal showed."""
    master, slave = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "runner", "shell", *args],
        cwd=repo,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
        start_new_session=True,
    )
    os.close(slave)
    shown, pending = bytearray(), list(steps)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # every end of the terminal closed: radiops is done
                    break
                shown += chunk
            prompted = ANNOUNCED in shown and prompt in shown[shown.find(ANNOUNCED) :]
            if pending and prompted:
                pause, step = pending.pop(0)
                time.sleep(pause)
                if callable(step):
                    step(process)
                else:
                    os.write(master, step)
        return process.wait(timeout=60), shown.decode("utf-8", errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)


def assert_node_free(repo: Path, client: docker.DockerClient, node: str = "node1") -> None:
    """``radiops testbed status`` says ``node`` is free, and its reservation is gone."""
    status = radiops(repo, "testbed", "status", "--json", timeout=120)
    assert status.returncode == 0, status.stderr
    (found,) = (each for each in json.loads(status.stdout)["nodes"] if each["node"] == node)
    assert found["free"] is True and found["held_by"] is None
    assert not client.containers.list(all=True, filters={"name": reservation_name(node)})


def session_record(repo: Path, experiment: str = "work") -> dict[str, object]:
    """The one session record of ``repo``; asserted never to be a run of ``experiment``."""
    (record,) = (repo / ".radiops" / "sessions").glob("*.json")
    found: dict[str, object] = json.loads(record.read_text())
    assert not list((repo / "experiments" / experiment).glob("runs/*"))  # never a run
    return found


# ``radiops shell``'s own steps up to the terminal, which is replaced by a SIGKILL: the state a
# shell killed between creating its container and starting it leaves (a created container,
# the node reserved, for a simulated radio the channel emulator and its network)
_KILLED_BEFORE_START = """
import os, signal, sys, threading
from pathlib import Path
from runner.gitops.gitinfo import code_info
from runner.model.report import LineReporter
from runner.pipeline.experiment_run import RunOptions
from runner.pipeline.session import ShellRequest, run_shell

def die(container, limit_s):
    os.kill(os.getpid(), signal.SIGKILL)

experiment, role, node, limit = sys.argv[1:]
run_shell(
    ShellRequest(target=Path(experiment), role=role, limit_s=float(limit)),
    RunOptions(provenance=code_info, actor="tester", node_names=(node,), live_logs=False),
    attach=die,
    cwd=Path.cwd(),
    reporter=LineReporter(),
    cancel=threading.Event(),
)
"""


def killed_before_start(repo: Path, experiment: str, role: str, node: str, limit_s: float) -> str:
    """A shell of ``experiment``'s ``role`` on ``node`` for ``limit_s``, its radiops killed
    once the container is created and before it starts; what radiops said until then."""
    result = subprocess.run(
        [sys.executable, "-c", _KILLED_BEFORE_START, experiment, role, node, str(limit_s)],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
        timeout=600,
        check=False,
    )
    assert result.returncode == -9, result.stdout + result.stderr
    return result.stdout + result.stderr
