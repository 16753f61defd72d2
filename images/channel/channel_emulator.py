"""The channel emulator: simulated radios' samples in over ZeroMQ, through the channel, out.

Wire format (what GNU Radio's gr-zeromq ``push_sink``/``pull_source`` speak,
so flowgraphs run unchanged): every message is raw complex64 little-endian
samples, no header. TX ``i`` (``tx[i]`` of the configuration) connects a
PUSH socket to ``tcp://<emulator>:<5600 + i>``, or binds it to
``tcp://*:5600`` in its own container, whose host name ``tx_hosts`` gives
(the emulator then connects there; GNU Radio's ZMQ PUSH sink binds); RX
``j`` connects a PULL socket to ``tcp://<emulator>:<5700 + j>``. Messages
may have any length.

Configuration: JSON in the file named by ``RADIOPS_CHANNEL_CONFIG``, or
JSON in ``RADIOPS_CHANNEL`` (see channel_model.parse_config).

Time is sample-accurate and lock-step, not wall-clock: each step takes
exactly ``block`` samples from every TX and gives ``block`` samples to every
RX, so the emulator runs as fast as its slowest participant (ZeroMQ's
queues push back on a fast TX; a connected RX misses nothing).

* The first block waits until every configured RX has connected and every
  TX has sent a block, so sample 0 is the same for everyone on every run.
* A TX that has not sent enough yet is waited for, however long; the others
  wait with it (they are never desynchronised).
* A TX that disconnects is silent from the end of what it sent: its last
  partial block is completed with zeros, then it contributes zeros, and no
  one waits for it. If it connects again it continues at the current time.
* An RX that disconnects stops receiving (its blocks are discarded, no one
  waits for it); if it connects again it gets the blocks from then on.
* While no TX and no RX is connected, time stands still (nothing is observed).
* Each port takes one peer: two TX on one port would interleave messages.

SIGTERM or SIGINT stops it cleanly (exit status 0). Throughput and waits are
logged to stderr every few seconds.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import numpy as np
import zmq
from channel_model import Channel, Config, ConfigError, Samples, parse_config
from zmq.utils.monitor import recv_monitor_message

TX_PORT = 5600
RX_PORT = 5700
QUEUE_MESSAGES = 64  # per socket, each way: bounds memory, keeps latency short
POLL_MS = 100  # how often a wait looks at the stop flag and at who is connected
LOG_EVERY_S = 5.0
RESOLVE_EVERY_S = 0.2  # a new lookup of a binding TX's host name this often, until one answers
RESOLVE_AT_ONCE = 16  # lookups in flight at most (each may wait seconds for Docker's DNS)
_EVENTS = zmq.EVENT_ACCEPTED | zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED


def log(message: str) -> None:
    print(f"channel: {message}", file=sys.stderr, flush=True)


@dataclass(kw_only=True)
class Port:
    """One bound socket and who is on the other end of it."""

    name: str
    socket: zmq.Socket
    monitor: zmq.Socket
    peers: int = 0
    seen: bool = False  # a peer connected at least once

    def update(self) -> None:
        """Apply the connection events that have arrived."""
        while self.monitor.poll(0):
            event = recv_monitor_message(self.monitor)["event"]
            if event in (zmq.EVENT_ACCEPTED, zmq.EVENT_CONNECTED):
                self.peers += 1
                self.seen = True
                log(f"{self.name} connected")
            elif event == zmq.EVENT_DISCONNECTED:
                self.peers = max(0, self.peers - 1)
                log(f"{self.name} disconnected")


@dataclass(kw_only=True)
class TxPort(Port):
    pending: deque[tuple[zmq.Frame, Samples]] = field(default_factory=deque)
    offset: int = 0  # samples of pending[0] already used
    carry: bytes = b""  # a sample split across two messages (not from GNU Radio)

    def receive(self) -> bool:
        """Queue one message if one is waiting; False when none is."""
        try:
            frame = self.socket.recv(zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return False
        if self.carry or len(frame) % 8:
            data = self.carry + frame.bytes
            whole = len(data) - len(data) % 8
            self.carry = data[whole:]
            samples = np.frombuffer(data[:whole], np.complex64)
        else:
            samples = np.frombuffer(frame.buffer, np.complex64)  # no copy
        if len(samples):
            self.pending.append((frame, samples))
        return True

    def fill(self, target: Samples, start: int) -> int:
        """Copy queued samples into ``target[start:]``; the new fill level."""
        while start < len(target) and self.pending:
            _, samples = self.pending[0]
            count = min(len(target) - start, len(samples) - self.offset)
            target[start : start + count] = samples[self.offset : self.offset + count]
            start += count
            self.offset += count
            if self.offset == len(samples):
                self.pending.popleft()
                self.offset = 0
        return start


class Stopped(Exception):
    pass


class Resolver:
    """The addresses of TX containers that bind (GNU Radio's PUSH sink), looked up aside.

    libzmq resolves a host name in its I/O thread, the one thread every socket of
    the context shares: while Docker's DNS takes seconds over the name of a
    container that is not there yet (the emulator starts first), no socket
    accepted or moved anything, and a radio that connects here (the simulated
    USRP) waited that long. So names are looked up in threads of their own, a new
    lookup every RESOLVE_EVERY_S until one answers, and the emulator connects to
    the address.
    """

    def __init__(self, hosts: dict[int, str]) -> None:
        self.found: queue.SimpleQueue[tuple[int, str]] = queue.SimpleQueue()
        self._left = dict(hosts)  # TX index -> host name, until found
        self._lock = threading.Lock()
        self._in_flight = 0
        self._next = 0.0

    def poll(self) -> None:
        """Start the lookups that are due (called from the emulator's loop)."""
        now = time.monotonic()
        with self._lock:
            if not self._left or now < self._next:
                return
            self._next = now + RESOLVE_EVERY_S
            for index, host in self._left.items():
                if self._in_flight >= RESOLVE_AT_ONCE:
                    break
                self._in_flight += 1
                threading.Thread(target=self._lookup, args=(index, host), daemon=True).start()

    def _lookup(self, index: int, host: str) -> None:
        try:
            answers = socket.getaddrinfo(host, TX_PORT, socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            answers = []
        with self._lock:
            self._in_flight -= 1
            if answers and self._left.pop(index, None) is not None:
                self.found.put((index, str(answers[0][4][0])))


class Emulator:
    """The sockets around a :class:`Channel`, and the loop that drives it."""

    def __init__(self, config: Config, *, context: zmq.Context) -> None:
        self.config = config
        self.channel = Channel(config)
        self.stop = False
        self.tx = [
            TxPort(name=f"tx {name}", **self._bind(context, zmq.PULL, TX_PORT + i))
            for i, name in enumerate(config.tx)
        ]
        # a radio that binds (GNU Radio's PUSH sink): connected to once its name answers
        hosts = config.tx_hosts
        self.resolver = Resolver({i: hosts[tx] for i, tx in enumerate(config.tx) if tx in hosts})
        self.rx = [
            Port(name=f"rx {name}", **self._bind(context, zmq.PUSH, RX_PORT + j))
            for j, name in enumerate(config.rx)
        ]
        self.blocks = 0
        self.waiting: set[str] = set()  # who the current wait is for, for the log
        self._reported = (time.monotonic(), 0)  # when, and how many blocks then

    @staticmethod
    def _bind(context: zmq.Context, kind: int, port: int) -> dict[str, zmq.Socket]:
        socket = context.socket(kind)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.RCVHWM if kind == zmq.PULL else zmq.SNDHWM, QUEUE_MESSAGES)
        socket.bind(f"tcp://*:{port}")
        return {"socket": socket, "monitor": socket.get_monitor_socket(_EVENTS)}

    def close(self) -> None:
        for port in (*self.tx, *self.rx):
            port.socket.disable_monitor()
            port.monitor.close(linger=0)
            port.socket.close(linger=0)

    def _wait(self, poller: zmq.Poller, waiting: set[str]) -> None:
        if self.stop:
            raise Stopped
        self.waiting = waiting
        self.report()
        self.connect_found()
        poller.poll(POLL_MS)

    def connect_found(self) -> None:
        """Connect to the binding TX whose addresses have been found."""
        self.resolver.poll()
        while not self.resolver.found.empty():
            index, address = self.resolver.found.get()
            self.tx[index].socket.connect(f"tcp://{address}:{TX_PORT}")

    def report(self, *, every_s: float = LOG_EVERY_S) -> None:
        """Log the throughput since the last report, and any wait, every few seconds."""
        now = time.monotonic()
        when, blocks = self._reported
        if now - when < every_s:
            return
        self._reported = (now, self.blocks)
        rate = (self.blocks - blocks) * self.channel.block / (now - when)
        waiting = f", waiting for {', '.join(sorted(self.waiting))}" if self.waiting else ""
        log(f"{self.blocks * self.channel.block} samples, {rate / 1e6:.2f} Msps{waiting}")

    def gather(self) -> bool:
        """Fill every TX's block: wait for the connected ones, zeros for the gone.

        True when some TX sent samples for this block.
        """
        size = self.channel.block
        filled = [0] * len(self.tx)
        heard = False
        while True:
            hungry: list[int] = []
            for i, port in enumerate(self.tx):
                target = self.channel.tx_block(i)
                filled[i] = port.fill(target, filled[i])
                while filled[i] < size and port.receive():
                    filled[i] = port.fill(target, filled[i])
                if filled[i] == size:
                    heard = True
                    continue
                port.update()
                if port.seen and port.peers == 0:
                    # gone; what it sent before leaving may have been queued after
                    # the reads above (the event comes after the data): read it first
                    while filled[i] < size and port.receive():
                        filled[i] = port.fill(target, filled[i])
                    heard = heard or filled[i] > 0
                    self.channel.silence(i, filled[i])
                    filled[i] = size
                else:
                    hungry.append(i)
            if not hungry:
                return heard
            poller = zmq.Poller()
            for i in hungry:
                poller.register(self.tx[i].socket, zmq.POLLIN)
                poller.register(self.tx[i].monitor, zmq.POLLIN)
            self._wait(poller, {self.tx[i].name for i in hungry})

    def deliver(self, blocks: list[Samples]) -> bool:
        """Send each RX its block; wait for an RX that has not connected yet.

        True when some RX took the block.
        """
        todo = list(range(len(self.rx)))
        sent = False
        while todo:
            left: list[int] = []
            for j in todo:
                port = self.rx[j]
                try:
                    port.socket.send(blocks[j], zmq.NOBLOCK, copy=True)  # buffer is reused
                    sent = True
                    continue
                except zmq.Again:
                    pass
                port.update()
                if not port.seen or port.peers:
                    left.append(j)  # not there yet, or its queue is full: wait
            todo = left
            if todo:
                poller = zmq.Poller()
                for j in todo:
                    poller.register(self.rx[j].socket, zmq.POLLOUT)
                    poller.register(self.rx[j].monitor, zmq.POLLIN)
                self._wait(poller, {self.rx[j].name for j in todo})
        return sent

    def idle(self) -> None:
        """Wait until a TX or RX is connected: time stands still while no one is."""
        ports = [*self.tx, *self.rx]
        while True:
            poller = zmq.Poller()
            for port in ports:
                port.update()
                poller.register(port.monitor, zmq.POLLIN)
            if any(port.peers for port in ports):
                return
            self._wait(poller, {"a TX or RX to connect"})

    def run(self) -> None:
        """Step until stopped (raises Stopped)."""
        # wait for every RX before time starts, so none misses sample 0
        while not all(port.seen for port in self.rx):
            poller = zmq.Poller()
            for port in self.rx:
                port.update()
                poller.register(port.monitor, zmq.POLLIN)
            self._wait(poller, {p.name for p in self.rx if not p.seen})
        log("all RX connected, waiting for the first block of every TX")
        while not self.stop:
            heard = self.gather()
            if not self.deliver(self.channel.step()) and not heard:
                self.idle()
            self.blocks += 1
            self.waiting = set()
            if self.blocks % 64 == 0:  # time.monotonic per block would cost more
                self.report()
                self.connect_found()
        raise Stopped


def load(environ: dict[str, str]) -> Config:
    path = environ.get("RADIOPS_CHANNEL_CONFIG")
    if path:
        return parse_config(Path(path).read_text(encoding="utf-8"))
    text = environ.get("RADIOPS_CHANNEL")
    if text:
        return parse_config(text)
    raise ConfigError("set RADIOPS_CHANNEL_CONFIG (a file) or RADIOPS_CHANNEL (JSON)")


def main() -> int:
    if sys.byteorder != "little":  # the wire is little-endian; numpy's complex64 is native
        log("error: this emulator runs on little-endian machines only")
        return 2
    try:
        config = load(dict(os.environ))
    except (ConfigError, OSError) as exc:
        log(f"error: configuration: {exc}")
        return 2
    context: zmq.Context = zmq.Context()
    emulator = Emulator(config, context=context)

    def stop(signum: int, _frame: FrameType | None) -> None:
        emulator.stop = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log(
        f"ready: {len(config.tx)} TX on ports {TX_PORT}+, {len(config.rx)} RX on ports "
        f"{RX_PORT}+, block {config.block}, sample rate {config.sample_rate:g}, "
        f"noise floor {config.noise_floor_dbfs} dBFS, seed {config.seed}"
    )
    started = time.monotonic()
    try:
        emulator.run()
    except Stopped:
        pass
    finally:
        emulator.close()  # every socket with linger 0: nothing is left to deliver
    elapsed = time.monotonic() - started
    log(
        f"stopped: {emulator.blocks} blocks ({emulator.blocks * config.block} samples "
        f"per RX) in {elapsed:.1f} s"
        + (f"; was waiting for {', '.join(sorted(emulator.waiting))}" if emulator.waiting else "")
    )
    return 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Not context.term(): libzmq's I/O thread may be resolving the address of a TX
    # container that has gone (it reconnects), and a lookup thread may be waiting for
    # Docker's DNS, which answers a vanished name only after seconds; term() waits for
    # them, and `docker stop` then waited up to its 10 s. The sockets are closed with
    # linger 0, so ending the process here loses nothing.
    os._exit(status)
