"""One supervised component of the testbed: a daemon found running, or started and waited for.

The default engine, the node engines, the registry (and a test's fresh engine)
are each a :class:`Component`: a command line, a pidfile, a log file and a
readiness probe. ``launch`` starts what does not answer yet; ``wait_ready``
waits for what was started (all launches first, then all waits: the daemons
start side by side); ``stop`` ends only what this testbed started.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from localtestbed import processes
from localtestbed.errors import PROG, TestbedError, log_tail


def _nothing() -> None:
    return None


@dataclass(frozen=True, kw_only=True)
class Component:
    """A daemon of the testbed and how to tell that it answers."""

    name: str
    """How messages call it: ``node1``, ``registry``, ``default engine``."""
    address: str
    """What it serves: ``unix:///run/radiops-testbed/node1/docker.sock``, ``localhost:5000``."""
    process: str
    """Its process name (``/proc/PID/comm``): ``dockerd``, ``docker-registry``."""
    command: tuple[str, ...]
    log: Path
    pidfile: Path
    """Where its pid is found while it runs."""
    probe: Callable[[], bool]
    """True once it answers; may raise PermissionError (a socket not ours)."""
    writes_pidfile: bool = False
    """The process writes :attr:`pidfile` itself (``dockerd --pidfile``); else launch does."""
    marker: Path | None = None
    """For a component someone else may run in its place (the default engine): the file
    that holds the pid this testbed started; without it, :attr:`pidfile` says so."""
    environment: Mapping[str, str] = field(default_factory=dict)
    """Variables set for its process, on top of this one's."""
    prepare: Callable[[], None] = _nothing
    """Before a launch: leftovers of a dead process removed, configuration written."""
    stop_grace: float = 10.0
    hints: tuple[str, ...] = ()
    """How to fix a component that exits before it answers."""

    @property
    def owner_file(self) -> Path:
        return self.marker or self.pidfile

    def owned_pid(self) -> int | None:
        """The pid of the process this testbed started, while it lives."""
        pid = processes.read_pid(self.owner_file)
        return pid if processes.alive(pid, self.process) else None

    def answers(self) -> bool:
        try:
            return self.probe()
        except PermissionError as exc:
            raise TestbedError(
                f"{self.name}: no permission to reach {self.address}: {exc}",
                f"run '{PROG}' as root",
            ) from exc

    def launch(self) -> Launch:
        """Find it running, or start it; does not wait for it to answer."""
        if self.answers():
            pid = self.owned_pid()
            if pid is None and (self.marker or not self.writes_pidfile):
                processes.remove(self.owner_file)  # someone else's, or a stale file
            return Launch(component=self, action="running", pid=pid)
        pid = processes.read_pid(self.pidfile)
        if processes.alive(pid, self.process):
            return Launch(component=self, action="starting", pid=pid)  # not answering yet
        processes.remove(self.pidfile, self.owner_file)
        self.prepare()
        note(f"starting {self.name} on {self.address} (log: {self.log})")
        banner = f"{PROG} up: starting {self.name}"
        pid = processes.spawn(list(self.command), self.log, banner, self.environment)
        if self.marker is not None or not self.writes_pidfile:
            self.owner_file.write_text(f"{pid}\n")
        return Launch(component=self, action="started", pid=pid)

    def stop(self) -> bool:
        """Stop it if this testbed started it; whether something was stopped."""
        stopped = stop_all([self])
        return bool(stopped)

    def status(self) -> ComponentStatus:
        """Whether it answers now, and whose it is (never starts anything)."""
        pid = self.owned_pid()
        try:
            up = self.probe()
        except PermissionError:
            return ComponentStatus(
                name=self.name, address=self.address, state="no permission", pid=pid
            )
        if up:
            return ComponentStatus(name=self.name, address=self.address, state="up", pid=pid)
        starting = processes.alive(processes.read_pid(self.pidfile), self.process)
        state: State = "starting" if starting else "down"
        return ComponentStatus(name=self.name, address=self.address, state=state, pid=pid)


State = Literal["up", "starting", "down", "no permission"]


@dataclass(frozen=True, kw_only=True)
class ComponentStatus:
    """A component as ``status`` found it."""

    name: str
    address: str
    state: State
    pid: int | None
    """The pid of the process this testbed started; None when it is not ours."""

    @property
    def managed(self) -> bool:
        return self.pid is not None


@dataclass(frozen=True, kw_only=True)
class Launch:
    """What :meth:`Component.launch` found or did."""

    component: Component = field(repr=False)
    action: Literal["running", "starting", "started"]
    """``running``: it answered already; ``starting``: a process of it was starting;
    ``started``: launched now."""
    pid: int | None

    @property
    def name(self) -> str:
        return self.component.name

    def wait_ready(self, timeout: float) -> None:
        """Wait until it answers; raise when its process dies or ``timeout`` passes."""
        if self.action == "running":
            return
        component = self.component
        deadline = time.monotonic() + timeout
        while not component.answers():
            if not processes.alive(self.pid, component.process):
                if component.answers():
                    return
                raise TestbedError(
                    f"{component.name}: {component.process} (pid {self.pid}) exited before "
                    f"answering on {component.address} (log: {component.log})",
                    log_tail(component.log),
                    *component.hints,
                )
            if time.monotonic() > deadline:
                raise TestbedError(
                    f"{component.name}: no answer on {component.address} after {timeout:g}s "
                    f"({component.process} pid {self.pid}, log: {component.log})",
                    log_tail(component.log),
                    f"run '{PROG} down' then '{PROG} up'; "
                    "raise RADIOPS_TESTBED_TIMEOUT on a slow machine",
                )
            time.sleep(processes.POLL_S * 2)

    def describe(self) -> str:
        """``running (pid 42)``, ``started (pid 42)``: for the summary of ``up``."""
        if self.action == "started":
            return f"started (pid {self.pid})"
        if self.action == "starting":
            return f"running (was starting, pid {self.pid})"
        if self.pid is None:
            return f"running (not managed by {PROG})"
        if self.component.marker is not None:
            return f"running (started by an earlier '{PROG} up', pid {self.pid})"
        return f"running (pid {self.pid})"


def launch_all(components: Sequence[Component], timeout: float) -> list[Launch]:
    """Launch every component, then wait for all of them together."""
    launches = [component.launch() for component in components]
    for launch in launches:
        launch.wait_ready(timeout)
    return launches


def stop_all(components: Sequence[Component]) -> list[Component]:
    """SIGTERM to every component this testbed started, then wait for each; those stopped."""
    owned = [(component, component.owned_pid()) for component in components]
    running = [(component, pid) for component, pid in owned if pid is not None]
    for _component, pid in running:
        processes.terminate(pid)
    for component, pid in running:
        if not processes.wait_gone(pid, component.process, component.stop_grace):
            note(
                f"{component.name} (pid {pid}) did not stop within "
                f"{component.stop_grace:g}s: sending SIGKILL"
            )
            if not processes.stop(pid, component.process, 0):
                raise TestbedError(
                    f"{component.name} (pid {pid}) survives SIGKILL",
                    f"check 'ps -o pid,stat,cmd -p {pid}'",
                )
    for component, _pid in owned:
        if component.marker is not None or not component.writes_pidfile:
            processes.remove(component.owner_file)
    return [component for component, _pid in running]


def note(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)
