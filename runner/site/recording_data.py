"""The numbers behind the four views of a recording, each from samples spread over all of it.

PSD and constellation use PSD_BLOCKS blocks evenly spaced from the first
sample to the last; the spectrogram has one row per stretch of time, each the
mean of a few FFTs spread over its stretch; the time view is ``strides``'s
envelope. Nothing here reads more than a fixed number of samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from runner.site.spectrum import (
    ComplexArray,
    FloatArray,
    Spectrum,
    UnsupportedRecording,
    _segment_size,
    density_spectrum,
)
from runner.site.strides import SampleFile

PSD_BLOCKS = 64
PSD_BLOCK = 1 << 14  # PSD_BLOCKS of these: a million samples, spread over the recording
PSD_BINS = 1024
SPECTROGRAM_ROWS = 256
SPECTROGRAM_BINS = 512
WINDOWS_PER_ROW = 8
CONSTELLATION_BINS = 160
_SEGMENTS_AT_ONCE = 64  # FFTs computed together: bounds the memory of a long block
_LARGEST_EXTENT = 1e300


@dataclass(frozen=True, kw_only=True)
class Spectrogram:
    """Power (dB), one row per stretch of time (top: start); ``edges`` bound the rows in samples."""

    power_db: FloatArray
    edges: npt.NDArray[np.int64]


@dataclass(frozen=True, kw_only=True)
class Constellation:
    """Density of I/Q in [-extent, extent]^2, in [0, 1] on a log scale; row 0 is the highest Q."""

    density: FloatArray
    extent: float


def check_finite(blocks: Sequence[ComplexArray]) -> None:
    """Raises UnsupportedRecording when a sample read is NaN or infinite."""
    total = sum(len(block) for block in blocks)
    bad = sum(int(np.count_nonzero(~np.isfinite(block))) for block in blocks)
    if bad:
        raise UnsupportedRecording(
            f"{bad} of {total} samples read are not finite numbers (NaN or infinity)"
        )


def spread_psd(
    blocks: Sequence[ComplexArray], *, sample_rate: float, center: float = 0.0, bins: int = PSD_BINS
) -> Spectrum:
    """Welch's estimate over every block: Hann windows, half overlapping, all averaged."""
    size = _segment_size(max((len(block) for block in blocks), default=0), bins)
    window = np.hanning(size)
    total = np.zeros(size)
    segments = 0
    for block in blocks:
        starts = np.arange(0, len(block) - size + 1, size // 2)
        for first in range(0, len(starts), _SEGMENTS_AT_ONCE):
            chosen = starts[first : first + _SEGMENTS_AT_ONCE]
            windowed = block[chosen[:, None] + np.arange(size)] * window
            total += np.sum(np.abs(np.fft.fft(windowed, axis=1)) ** 2, axis=0)
            segments += len(chosen)
    return density_spectrum(
        total / max(segments, 1), window, sample_rate=sample_rate, center=center
    )


def spread_spectrogram(
    samples: SampleFile,
    *,
    rows: int = SPECTROGRAM_ROWS,
    bins: int = SPECTROGRAM_BINS,
    windows: int = WINDOWS_PER_ROW,
) -> Spectrogram:
    """Rows spanning the whole recording, each the mean power of ``windows`` FFTs across it."""
    size = _segment_size(samples.count, bins)
    rows = max(1, min(rows, samples.count // size))
    edges = np.linspace(0, samples.count, rows + 1).astype(np.int64)
    window = np.hanning(size)
    power = np.empty((rows, size))
    for row in range(rows):
        start, end = int(edges[row]), max(int(edges[row + 1]), int(edges[row]) + size)
        count = max(1, min(windows, (end - start) // size))
        offsets = np.linspace(start, end - size, count).astype(np.int64)
        if end - start <= 2 * windows * size:  # a short stretch: one read
            stretch = samples.read(start, end - start)
            found = [stretch[o - start : o - start + size] for o in offsets]
        else:
            found = [samples.read(int(o), size) for o in offsets]
        found = [part for part in found if len(part) == size]
        if not found:  # the file shrank while it was read
            raise UnsupportedRecording("the recording changed while it was read")
        spectra = np.fft.fftshift(np.fft.fft(np.asarray(found) * window, axis=1), axes=1)
        power[row] = np.mean(np.abs(spectra) ** 2, axis=0)
    return Spectrogram(power_db=10.0 * np.log10(power + 1e-30), edges=edges)


def constellation(
    blocks: Sequence[ComplexArray], *, bins: int = CONSTELLATION_BINS
) -> Constellation:
    """A 2-D histogram of the samples' I and Q, log-scaled, over a range that holds nearly all.

    The range is set by the 99.9th percentile of |I| and |Q|, so that a few
    outliers do not squeeze the constellation into a dot.
    """
    samples = np.concatenate(list(blocks)) if blocks else np.zeros(0, dtype=np.complex128)
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        raise UnsupportedRecording("no finite sample to place")
    largest = np.maximum(np.abs(samples.real), np.abs(samples.imag))
    extent = float(np.quantile(largest, 0.999)) * 1.15
    if not 0 < extent < _LARGEST_EXTENT:
        extent = min(float(np.max(largest)), _LARGEST_EXTENT) or 1.0
    bounds = [[-extent, extent], [-extent, extent]]
    counts, _, _ = np.histogram2d(samples.imag, samples.real, bins=bins, range=bounds)
    peak = float(counts.max())
    density: FloatArray = np.log1p(counts[::-1]) / np.log1p(peak) if peak else counts
    return Constellation(density=density, extent=extent)
