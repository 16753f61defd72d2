"""A simulated radio: complex baseband to and from the channel emulator over ZeroMQ.

The wire format is that of GNU Radio's ZeroMQ PUSH sink / PULL source blocks
(``pass_tags`` off): each message is raw complex64 little-endian samples, no header,
and a stream is the concatenation of its messages. So a GNU Radio flowgraph with a
ZMQ PUSH sink at ``RADIOPS_CHANNEL_TX`` and a ZMQ PULL source at
``RADIOPS_CHANNEL_RX`` is a radio of the same kind.

- transmit: a PUSH socket *connects* to ``RADIOPS_CHANNEL_TX`` (the emulator binds a
  PULL socket per transmitter);
- receive: a PULL socket *connects* to ``RADIOPS_CHANNEL_RX`` (the emulator binds a
  PUSH socket per receiver).

Received samples are contiguous across ``receive`` calls: the emulator streams, and
what was not read yet waits in the socket's queue.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import zmq

from radiops_radio.radio import SAMPLE, RadioBase, RadioError, as_complex64
from radiops_radio.settings import CHANNEL_RX, CHANNEL_TX, RadioSettings

#: samples per message sent: 512 KiB, a bounded unit for the emulator to take in
CHUNK = 1 << 16
#: how long close() waits for the emulator to take the last samples (the run's
#: duration stops a radio long before this on a testbed)
DRAIN_TIMEOUT_S = 600.0
DRAIN_POLL_S = 0.02
#: messages queued per socket before transmit() waits for the emulator
HIGH_WATER_MARK = 64


class SimRadio(RadioBase):
    """A radio served by the channel emulator."""

    def __init__(
        self, settings: RadioSettings, *, context: zmq.Context[zmq.Socket[bytes]] | None = None
    ) -> None:
        if settings.channel_tx is None and settings.channel_rx is None:
            raise RadioError(
                f"a simulated radio needs the channel emulator: neither {CHANNEL_TX} nor "
                f"{CHANNEL_RX} is set (radiops sets them when it runs the role with a "
                "simulated radio)"
            )
        self.settings = settings
        self._own_context = context is None
        self._context = context or zmq.Context()
        self._tx: zmq.Socket[bytes] | None = None
        self._rx: zmq.Socket[bytes] | None = None
        self._pending = bytearray()  # part of a message beyond what receive() returned
        # connect both at once: the emulator may deliver before the first receive()
        if settings.channel_tx is not None:
            self._tx = self._context.socket(zmq.PUSH)
            self._tx.setsockopt(zmq.SNDHWM, HIGH_WATER_MARK)
            self._tx.setsockopt(zmq.LINGER, -1)  # close() keeps every sample queued
            self._tx.connect(settings.channel_tx)
        if settings.channel_rx is not None:
            self._rx = self._context.socket(zmq.PULL)
            self._rx.setsockopt(zmq.RCVHWM, HIGH_WATER_MARK)
            self._rx.setsockopt(zmq.LINGER, 0)
            self._rx.connect(settings.channel_rx)
        self._closed = False

    def transmit(self, samples: np.ndarray) -> None:
        data = as_complex64(samples)
        socket = self._socket(self._tx, CHANNEL_TX, "transmit")
        for start in range(0, len(data), CHUNK):
            # Blocks while the emulator's queue for this radio is full, as GNU Radio's
            # PUSH sink does: the emulator moves in lock-step with its slowest receiver.
            # A radio never gives up on transmitting; the run's duration ends it.
            socket.send(data[start : start + CHUNK], copy=False)

    def receive(self, count: int, *, timeout: float | None = None) -> np.ndarray:
        if count < 0:
            raise ValueError(f"count must be 0 or more, not {count}")
        socket = self._socket(self._rx, CHANNEL_RX, "receive")
        wanted = count * SAMPLE.itemsize
        out = np.empty(count, dtype=SAMPLE)
        view = out.view(np.uint8)
        filled = min(len(self._pending), wanted)
        view[:filled] = np.frombuffer(self._pending, dtype=np.uint8, count=filled)
        del self._pending[:filled]
        deadline = time.monotonic() + (
            timeout if timeout is not None else self.default_timeout(count)
        )
        while filled < wanted:
            remaining = deadline - time.monotonic()
            wait_ms = max(1, int(remaining * 1000)) if math.isfinite(remaining) else None
            if remaining <= 0 or not socket.poll(wait_ms, zmq.POLLIN):
                raise RadioError(
                    f"received {filled // SAMPLE.itemsize} of {count} samples from the channel "
                    f"emulator at {self.settings.channel_rx} before the timeout"
                )
            message = socket.recv(copy=False).buffer
            taken = min(len(message), wanted - filled)
            view[filled : filled + taken] = np.frombuffer(message, dtype=np.uint8, count=taken)
            filled += taken
            if taken < len(message):
                self._pending += message[taken:]
        return out

    def close(self) -> None:
        """Close the sockets; a transmitter first waits until the emulator has every sample.

        ZeroMQ's linger only hands queued messages to the kernel. A container's
        network goes away the moment its process exits, and with it whatever the
        kernel had not delivered yet, including the end of the connection: the
        emulator would wait for the rest of the stream for ever. So a transmitter
        also waits until its connections to the emulator are acknowledged to the
        last byte and the end (see :func:`undelivered`).
        """
        if self._closed:
            return
        self._closed = True
        for socket in (self._tx, self._rx):
            if socket is not None:
                socket.close()
        if not self._own_context:
            return  # the owner's term() flushes the queue; the kernel's part is theirs
        self._context.term()  # returns once every queued message is in the kernel
        port = _port(self.settings.channel_tx)
        if self._tx is None or port is None:
            return
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while (left := undelivered(port)) and time.monotonic() < deadline:
            time.sleep(DRAIN_POLL_S)
        if left:
            print(
                f"radiops_radio: {left} byte(s) to the channel emulator were still "
                f"unacknowledged after {DRAIN_TIMEOUT_S:.0f} s",
                file=sys.stderr,
            )

    def _socket(
        self, socket: zmq.Socket[bytes] | None, variable: str, action: str
    ) -> zmq.Socket[bytes]:
        if self._closed:
            raise RadioError(f"cannot {action}: the radio is closed")
        if socket is None:
            raise RadioError(
                f"cannot {action}: {variable} is not set, so this simulated radio has no "
                f"channel emulator endpoint to {action} through"
            )
        return socket


#: TCP states (include/net/tcp_states.h) in which a connection still owes the
#: peer data or its FIN: ESTABLISHED, SYN_SENT, FIN_WAIT1, CLOSE_WAIT, LAST_ACK, CLOSING
_OWING = frozenset({0x01, 0x02, 0x04, 0x08, 0x09, 0x0B})
_PROC_TCP = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))


def _port(endpoint: str | None) -> int | None:
    if endpoint is None or not endpoint.startswith("tcp://"):
        return None
    return int(endpoint.rsplit(":", 1)[1])


def undelivered(port: int, tables: tuple[Path, ...] = _PROC_TCP) -> int:
    """Bytes (at least 1 while only the FIN is owed) this network namespace still
    owes peers on ``port``, from the kernel's socket tables; 0 when all is delivered."""
    owed = 0
    for table in tables:
        try:
            lines = table.read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 5 or int(fields[2].rsplit(":", 1)[1], 16) != port:
                continue
            state, tx_queue = int(fields[3], 16), int(fields[4].split(":")[0], 16)
            if state in _OWING:
                owed += max(tx_queue, 1)
    return owed
