"""A terminal attached to a container: its tty's bytes to and from a local terminal, over the
engine's API (a remote engine with TLS included), until the container ends or time is up.

The local terminal is put in raw mode while attached, so Ctrl-C, Ctrl-Z and line editing
go to the container's shell, and it is restored afterwards whatever happens.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import struct
import termios
import threading
import time
import tty
from collections.abc import Iterator
from typing import Any

from docker.models.containers import Container

from runner.engine.node import NodeContainer
from runner.model.errors import EnvironmentProblem

CHUNK = 65536
TICK_S = 0.2


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    """``fd``'s terminal in raw mode, restored on the way out."""
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def window_size(fd: int) -> tuple[int, int]:
    """Rows and columns of ``fd``'s terminal (24x80 when it does not say)."""
    try:
        rows, columns, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return 24, 80
    return rows or 24, columns or 80


def attach_terminal(
    container: NodeContainer,
    *,
    stdin_fd: int,
    stdout_fd: int,
    limit_s: float,
    cancel: threading.Event,
) -> str:
    """Start ``container`` attached to the local terminal; how it ended: ``exited`` (the shell
    ended), ``time`` (``limit_s`` was reached) or ``cancelled`` (``cancel`` was set)."""
    if not isinstance(container, Container):
        raise EnvironmentProblem("an interactive shell needs a Docker Engine API node")
    params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
    socket = container.attach_socket(params=params)
    raw: Any = getattr(socket, "_sock", socket)  # the HTTP response's socket, upgraded
    resized = threading.Event()
    previous = {
        signal.SIGWINCH: signal.signal(signal.SIGWINCH, lambda *_: resized.set()),
        # the terminal went away: end the session and free the node rather than die holding it
        signal.SIGHUP: signal.signal(signal.SIGHUP, lambda *_: cancel.set()),
    }
    try:
        container.start()
        _resize(container, stdin_fd)
        with raw_terminal(stdin_fd):
            return _pump(container, raw, stdin_fd, stdout_fd, limit_s, cancel, resized)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        with contextlib.suppress(OSError):
            socket.close()


def _pump(
    container: Container,
    raw: Any,
    stdin_fd: int,
    stdout_fd: int,
    limit_s: float,
    cancel: threading.Event,
    resized: threading.Event,
) -> str:
    deadline = time.monotonic() + limit_s
    while True:
        if cancel.is_set():
            return "cancelled"
        left = deadline - time.monotonic()
        if left <= 0:
            return "time"
        if resized.is_set():
            resized.clear()
            _resize(container, stdin_fd)
        readable, _, _ = select.select([raw, stdin_fd], [], [], min(TICK_S, left))
        buffered = getattr(raw, "pending", None)  # TLS: decrypted bytes select cannot see
        if raw in readable or (buffered is not None and buffered()):
            data = raw.recv(CHUNK)
            if not data:
                return "exited"
            _write_all(stdout_fd, data)
        if stdin_fd in readable:
            try:
                data = os.read(stdin_fd, CHUNK)
            except OSError:  # the terminal is gone
                data = b""
            if not data:  # the terminal closed: end the shell as a hang-up would
                return "cancelled"
            raw.sendall(data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _resize(container: Container, fd: int) -> None:
    rows, columns = window_size(fd)
    with contextlib.suppress(Exception):  # a container that just exited cannot be resized
        container.resize(height=rows, width=columns)
