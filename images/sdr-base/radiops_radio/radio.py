"""One radio interface for experiment code: UHD on a real node, the channel emulator on a
simulated one.

    from radiops_radio import open_radio

    with open_radio() as radio:          # settings from the environment
        radio.transmit(samples)          # complex64 baseband
        captured = radio.receive(100_000)

The backend is chosen by ``RADIOPS_RADIO_SIMULATED``; the experiment code is the
same on both, so a scenario that runs on the local default runs unchanged on USRPs.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self, runtime_checkable

import numpy as np

from radiops_radio.settings import RadioSettings

#: how much longer than a capture lasts receive() waits by default: containers of a run
#: start together, but a transmitter may take a while before it sends its first sample
TIMEOUT_MARGIN_S = 30.0


class RadioError(Exception):
    """The radio could not be opened, or a transfer failed (overflow, timeout, closed)."""


@runtime_checkable
class Radio(Protocol):
    """A radio of one channel, at the settings it was opened with."""

    settings: RadioSettings

    def transmit(self, samples: np.ndarray) -> None:
        """Send ``samples`` (complex baseband, converted to complex64) after those sent before.

        Returns once the radio took them; it may wait while the radio (or the channel
        emulator, paced by the slowest receiver) is not ready for more.
        """
        ...

    def receive(self, count: int, *, timeout: float | None = None) -> np.ndarray:
        """The next ``count`` received samples (complex64).

        Waits at most ``timeout`` seconds in all (default: the capture's own duration
        at the sample rate, plus :data:`TIMEOUT_MARGIN_S`; ``math.inf``: as long as it
        takes); RadioError when they did not all arrive.
        """
        ...

    def close(self) -> None:
        """End the transmission and release the device; closing twice is allowed."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class RadioBase:
    """The context-manager part shared by the backends."""

    settings: RadioSettings

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def default_timeout(self, count: int) -> float:
        return count / self.settings.rate + TIMEOUT_MARGIN_S


#: complex64, little-endian: the samples on the wire (GNU Radio's gr_complex) and on disk
SAMPLE = np.dtype("<c8")


def as_complex64(samples: np.ndarray) -> np.ndarray:
    """``samples`` as a contiguous one-dimensional little-endian complex64 array."""
    array = np.asarray(samples)
    if array.ndim != 1:
        raise ValueError(f"samples must be one-dimensional, not of shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"samples must be numbers, not {array.dtype}")
    return np.ascontiguousarray(array, dtype=SAMPLE)


def open_radio(settings: RadioSettings | None = None) -> Radio:
    """The role's radio: ``settings`` or, by default, those of the environment.

    A simulated radio talks to the channel emulator over ZeroMQ; a real one is a
    USRP opened with UHD (``UHD_ARGS``), tuned to the settings.
    """
    settings = settings or RadioSettings.from_env()
    if settings.simulated:
        from radiops_radio.sim_radio import SimRadio  # only a simulated radio needs zmq

        return SimRadio(settings)
    from radiops_radio.uhd_radio import UhdRadio  # importing uhd logs a banner: only when used

    return UhdRadio(settings)
