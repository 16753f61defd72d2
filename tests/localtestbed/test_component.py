"""The testbed's one supervised-component state machine, driven with real processes: a
small HTTP server (Python's http.server) plays the daemon, its HTTP answer the probe."""

from __future__ import annotations

import dataclasses
import functools
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localtestbed import processes
from localtestbed.component import Component, launch_all, stop_all
from localtestbed.errors import TestbedError
from localtestbed.probes import http_answers


@functools.cache
def python_name() -> str:
    """The process name (/proc/PID/comm) of this interpreter when it is started again."""
    return subprocess.run(
        [sys.executable, "-c", "print(open('/proc/self/comm').read().strip())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server(tmp_path: Path, *, code: str | None = None, **options: Any) -> Component:
    """A component serving HTTP on a free loopback port (or running ``code`` instead)."""
    port = free_port()
    served = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    command = served if code is None else [sys.executable, "-c", code]
    component = Component(
        name="server",
        address=f"127.0.0.1:{port}",
        process=python_name(),
        command=tuple(command),
        log=tmp_path / "server.log",
        pidfile=tmp_path / "server.pid",
        probe=functools.partial(http_answers, f"http://127.0.0.1:{port}/"),
    )
    return dataclasses.replace(component, **options)


@pytest.fixture
def stopped(tmp_path: Path) -> Iterator[list[Component]]:
    """Components the test launches; whatever still runs is stopped at the end."""
    started: list[Component] = []
    yield started
    stop_all(started)


def test_a_component_is_started_waited_for_found_again_and_stopped(
    tmp_path: Path, stopped: list[Component]
) -> None:
    component = server(tmp_path)
    stopped.append(component)
    assert component.status().state == "down"
    (launch,) = launch_all([component], timeout=30)
    assert launch.action == "started"
    assert launch.describe() == f"started (pid {launch.pid})"
    assert component.answers()
    assert processes.read_pid(component.pidfile) == launch.pid
    now = component.status()
    assert (now.state, now.pid, now.managed) == ("up", launch.pid, True)

    again = component.launch()  # idempotent: found, not started twice
    assert (again.action, again.pid) == ("running", launch.pid)
    assert again.describe() == f"running (pid {launch.pid})"

    assert component.stop()
    assert not processes.alive(launch.pid, component.process)
    assert not component.pidfile.exists()
    assert component.status().state == "down"
    assert not component.stop()  # nothing of ours runs any more


def test_a_process_that_exits_before_answering_is_reported_with_its_log(
    tmp_path: Path,
) -> None:
    component = server(
        tmp_path, code="print('port is taken', flush=True); raise SystemExit(3)", hints=("fix",)
    )
    launch = component.launch()
    with pytest.raises(TestbedError) as raised:
        launch.wait_ready(timeout=30)
    text = raised.value.render()
    assert f"server: {component.process} (pid {launch.pid}) exited before answering" in text
    assert "| port is taken" in text  # the log's last lines
    assert text.rstrip().endswith("fix")


def test_a_process_that_never_answers_is_given_up_after_the_timeout(
    tmp_path: Path, stopped: list[Component]
) -> None:
    component = server(tmp_path, code="import time; time.sleep(60)")
    stopped.append(component)
    launch = component.launch()
    with pytest.raises(TestbedError, match=r"no answer on 127\.0\.0\.1:\d+ after 1s"):
        launch.wait_ready(timeout=1)
    assert component.status().state == "starting"
    # a launch while it starts waits for that process rather than starting a second
    assert component.launch().action == "starting"
    assert component.launch().pid == launch.pid


def test_one_that_answers_but_is_not_ours_is_used_as_is_and_never_stopped(
    tmp_path: Path, stopped: list[Component]
) -> None:
    (tmp_path / "theirs").mkdir()
    theirs = server(tmp_path / "theirs")
    stopped.append(theirs)
    (running,) = launch_all([theirs], timeout=30)
    # the same service, seen by a testbed that did not start it (like the shared default engine)
    marker = tmp_path / "ours.pid"
    ours = server(tmp_path, marker=marker, probe=theirs.probe, address=theirs.address)
    marker.write_text("999999\n")  # a stale marker: removed
    found = ours.launch()
    assert (found.action, found.pid) == ("running", None)
    assert found.describe() == "running (not managed by scripts/testbed)"
    assert not marker.exists()
    assert ours.status().managed is False
    assert stop_all([ours]) == []
    assert processes.alive(running.pid, theirs.process) and theirs.answers()


def test_a_process_that_ignores_sigterm_is_killed_after_its_grace(
    tmp_path: Path, stopped: list[Component], capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    code = (
        "import signal, http.server; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"http.server.HTTPServer(('127.0.0.1', {port}), "
        "http.server.SimpleHTTPRequestHandler).serve_forever()"
    )
    component = server(
        tmp_path,
        code=code,
        stop_grace=0.5,
        probe=functools.partial(http_answers, f"http://127.0.0.1:{port}/"),
    )
    stopped.append(component)
    (launch,) = launch_all([component], timeout=30)
    assert launch.pid is not None
    processes.terminate(launch.pid)  # ignored
    assert processes.alive(launch.pid, component.process)
    assert stop_all([component]) == [component]
    assert not processes.alive(launch.pid, component.process)
    assert "did not stop within 0.5s: sending SIGKILL" in capsys.readouterr().err
