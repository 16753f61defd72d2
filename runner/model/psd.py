"""The one power-spectrum rule: Hann-windowed FFTs of a recording's segments, averaged.

``radiops reproduce`` and ``radiops diff`` (a PSD distance between two recordings)
and the site's spectrum plots all average |FFT|^2 over windowed segments; this is
that computation. Pure numpy: no file, engine or format knowledge.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128] | npt.NDArray[np.complex64]
_SEGMENTS_AT_ONCE = 64  # FFTs computed together: bounds the memory of a long block


def mean_power(blocks: Sequence[ComplexArray], size: int, *, step: int) -> FloatArray:
    """|FFT|^2 of every ``size``-sample segment of ``blocks`` (one every ``step`` samples,
    each under a Hann window), averaged; in FFT order (numpy's fftfreq). Zeros when no
    block holds a whole segment."""
    window = np.hanning(size)
    total = np.zeros(size)
    segments = 0
    for block in blocks:
        starts = np.arange(0, len(block) - size + 1, step)
        for first in range(0, len(starts), _SEGMENTS_AT_ONCE):
            chosen = starts[first : first + _SEGMENTS_AT_ONCE]
            windowed = block[chosen[:, None] + np.arange(size)] * window
            total += np.sum(np.abs(np.fft.fft(windowed, axis=1)) ** 2, axis=0)
            segments += len(chosen)
    return total / max(segments, 1)


def window_power(size: int) -> float:
    """The Hann window's energy: what divides a mean power into a density per hertz
    (times the sample rate)."""
    return float(np.sum(np.hanning(size) ** 2))
