"""One radio interface for experiment code: a USRP through UHD, real or simulated.

    from radiops_radio import open_radio

    with open_radio() as radio:          # settings from the environment
        radio.transmit(samples)          # complex64 baseband
        captured = radio.receive(100_000)

A thin helper over UHD's Python API: on a node with a real radio it opens the
USRP the runner names (``UHD_ARGS``); on a simulated one it opens the simulated
USRP that libuhd loads there (``UHD_MODULE_PATH``), which streams through the
run's channel emulator. The code path is UHD's in both cases, so a scenario that
runs on the local default runs unchanged on USRPs, and behaves as a radio does:
what arrives while nobody receives is not kept.
"""

from __future__ import annotations

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

        Successive calls form one burst, which ``close`` ends. Returns once the radio
        took them; it waits while the radio is not ready for more.
        """
        ...

    def receive(self, count: int, *, timeout: float | None = None) -> np.ndarray:
        """One capture of ``count`` samples (complex64), starting now.

        Consecutive calls are separate captures with a gap between them. Waits at
        most ``timeout`` seconds in all (default: the capture's own duration at the
        sample rate, plus :data:`TIMEOUT_MARGIN_S`); RadioError when they did not all
        arrive, or arrived with a gap (an overflow).
        """
        ...

    def close(self) -> None:
        """End the transmission and release the device; closing twice is allowed."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


#: complex64, little-endian: the samples in memory and on disk (SigMF cf32_le)
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
    """The role's radio, opened through UHD: ``settings`` or, by default, the environment's."""
    settings = settings or RadioSettings.from_env()
    from radiops_radio.uhd_radio import UhdRadio  # importing uhd logs a banner: only when used

    return UhdRadio(settings)
