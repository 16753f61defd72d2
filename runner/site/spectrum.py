"""Power spectral density and spectrogram of a SigMF recording, with numpy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

MAX_SAMPLES = 1 << 20  # read_samples reads at most this many from the start (the plots: strides)
PSD_BINS = 1024
SPECTROGRAM_BINS = 256
SPECTROGRAM_ROWS = 200

_DATATYPE = re.compile(r"^([cr])(f64|f32|f16|i32|i16|i8|u32|u16|u8)(?:_(le|be))?$")
_SIZES = {"64": 8, "32": 4, "16": 2, "8": 1}

FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128]


class UnsupportedRecording(ValueError):
    """The recording cannot be plotted (unknown datatype, too few samples)."""


@dataclass(frozen=True, kw_only=True)
class Spectrum:
    """Frequencies (Hz, absolute when the centre frequency is known) and power (dB)."""

    frequencies: FloatArray
    power_db: FloatArray


def sample_dtype(datatype: str) -> tuple[bool, np.dtype[np.generic]]:
    """(is complex, numpy dtype of one component) for a SigMF ``core:datatype``."""
    match = _DATATYPE.match(datatype)
    if match is None:
        raise UnsupportedRecording(f"unknown SigMF datatype {datatype!r}")
    kind, component, endian = match.groups()
    size = _SIZES[component[1:]]
    order = ">" if endian == "be" else "<"
    return kind == "c", np.dtype(f"{order if size > 1 else ''}{component[0]}{size}")


def read_samples(path: Path, datatype: str, *, limit: int = MAX_SAMPLES) -> ComplexArray:
    """The first ``limit`` samples as complex numbers, integers scaled to [-1, 1)."""
    is_complex, dtype = sample_dtype(datatype)
    values = scale(np.fromfile(path, dtype=dtype, count=limit * (2 if is_complex else 1)))
    if is_complex:
        values = values[: len(values) // 2 * 2]
        return values[0::2] + 1j * values[1::2]
    return values.astype(np.complex128)


def scale(raw: npt.NDArray[np.generic]) -> FloatArray:
    """Stored sample values as floats; integers scaled to [-1, 1)."""
    values: FloatArray = raw.astype(np.float64)
    if raw.dtype.kind == "u":
        half = float(1 << (8 * raw.dtype.itemsize - 1))
        values = (values - half) / half
    elif raw.dtype.kind == "i":
        values = values / float(1 << (8 * raw.dtype.itemsize - 1))
    return values


def psd(
    samples: ComplexArray, *, sample_rate: float, center: float = 0.0, bins: int = PSD_BINS
) -> Spectrum:
    """Welch's estimate: Hann windows of ``bins`` samples, half overlapping, averaged."""
    size = _segment_size(len(samples), bins)
    step = size // 2
    starts = np.arange(0, len(samples) - size + 1, step)
    window = np.hanning(size)
    segments = samples[starts[:, None] + np.arange(size)] * window
    power = np.mean(np.abs(np.fft.fft(segments, axis=1)) ** 2, axis=0)
    return density_spectrum(power, window, sample_rate=sample_rate, center=center)


def density_spectrum(
    power: FloatArray, window: FloatArray, *, sample_rate: float, center: float
) -> Spectrum:
    """The Spectrum of FFT bins' mean ``power`` (unshifted) taken through ``window``."""
    density = power / (sample_rate * np.sum(window**2))
    frequencies: FloatArray = np.fft.fftfreq(len(power), d=1.0 / sample_rate).astype(np.float64)
    order = np.argsort(frequencies)
    return Spectrum(
        frequencies=frequencies[order] + center,
        power_db=10.0 * np.log10(density[order] + 1e-30),
    )


def spectrogram(
    samples: ComplexArray, *, bins: int = SPECTROGRAM_BINS, rows: int = SPECTROGRAM_ROWS
) -> FloatArray:
    """Power in dB, one row per moment (top: start), frequency rising to the right."""
    size = _segment_size(len(samples), bins)
    count = max(1, min(rows, len(samples) // size))
    starts = np.linspace(0, len(samples) - size, count).astype(np.int64)
    segments = samples[starts[:, None] + np.arange(size)] * np.hanning(size)
    power = np.abs(np.fft.fftshift(np.fft.fft(segments, axis=1), axes=1)) ** 2
    result: FloatArray = 10.0 * np.log10(power + 1e-30)
    return result


def _segment_size(available: int, wanted: int) -> int:
    size = wanted
    while size > available and size > 16:
        size //= 2
    if size > available:
        raise UnsupportedRecording(f"only {available} samples: too few to plot")
    return size
