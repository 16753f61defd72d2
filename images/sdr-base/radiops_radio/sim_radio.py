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
import time

import numpy as np
import zmq

from radiops_radio.radio import SAMPLE, RadioBase, RadioError, as_complex64
from radiops_radio.settings import CHANNEL_RX, CHANNEL_TX, RadioSettings

#: samples per message sent: 512 KiB, a bounded unit for the emulator to take in
CHUNK = 1 << 16
#: how long close() lets the last samples reach the emulator
LINGER_MS = 5000
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
            self._tx.setsockopt(zmq.LINGER, LINGER_MS)
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
        if self._closed:
            return
        self._closed = True
        for socket in (self._tx, self._rx):
            if socket is not None:
                socket.close()
        if self._own_context:
            self._context.term()

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
