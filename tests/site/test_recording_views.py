"""The four views of a recording span all of it, read in bounded blocks: real SigMF files."""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from runner.site.cache import BuildCache
from runner.site.plots import VIEWS, recording_plots
from runner.site.recording_data import (
    PSD_BLOCK,
    PSD_BLOCKS,
    constellation,
    spread_spectrogram,
)
from runner.site.spectrum import read_samples, spectrogram, spread_psd
from runner.site.strides import SampleFile

RATE = 1e6
TONE = 200e3


def _write(path: Path, samples: np.ndarray) -> Path:
    np.asarray(samples, dtype=np.complex64).tofile(path)
    return path


def _late_tone(samples: int) -> np.ndarray:
    """Noise throughout, a tone at TONE Hz in the second half only."""
    rng = np.random.default_rng(3)
    noise = rng.normal(scale=0.01, size=(2, samples))
    signal = noise[0] + 1j * noise[1]
    late = np.arange(samples // 2, samples)
    signal[late] += np.exp(2j * np.pi * TONE * late / RATE)
    tone: np.ndarray = signal
    return tone


def _rchar() -> int:
    """Bytes this process has read so far (read and pread alike), from /proc."""
    text = Path("/proc/self/io").read_text(encoding="ascii")
    return int(re.search(r"^rchar: (\d+)$", text, re.MULTILINE)[1])  # type: ignore[index]


def test_a_tone_in_the_second_half_shows_in_the_spectrograms_second_half(tmp_path: Path) -> None:
    count = 4 << 20  # four times what the plots read before: the tone starts past it
    path = _write(tmp_path / "rx.sigmf-data", _late_tone(count))
    with SampleFile.open(path, "cf32_le") as samples:
        found = spread_spectrogram(samples, rows=64, bins=256)
    rows = found.power_db.shape[0]
    tone_bin = 128 + round(TONE / RATE * 256)  # fftshifted: 0 Hz in the middle
    middle = np.searchsorted(found.edges, count // 2)
    late = found.power_db[middle + 1 :]
    early = found.power_db[: middle - 1]
    assert rows == 64 and found.edges[-1] == count
    assert set(np.argmax(late, axis=1)) == {tone_bin}
    assert np.all(late[:, tone_bin] - early[:, tone_bin].max() > 30)
    # the first 2^20 samples, as the plots read before, hold no tone at all
    before = spectrogram(read_samples(path, "cf32_le"), bins=256, rows=64)
    assert before[:, tone_bin].max() < early[:, tone_bin].max() + 10


def test_the_psd_averages_blocks_from_the_whole_recording(tmp_path: Path) -> None:
    count = 4 << 20
    path = _write(tmp_path / "rx.sigmf-data", _late_tone(count))
    with SampleFile.open(path, "cf32_le") as samples:
        blocks = samples.spread(PSD_BLOCKS, PSD_BLOCK)
    assert len(blocks) == PSD_BLOCKS and all(len(b) == PSD_BLOCK for b in blocks)
    spectrum = spread_psd(blocks, sample_rate=RATE, center=2.4e9)
    peak = spectrum.frequencies[int(np.argmax(spectrum.power_db))]
    assert abs(peak - (2.4e9 + TONE)) <= RATE / 1024
    # the last block ends at the recording's last sample
    assert blocks[-1][-1] == pytest.approx(_late_tone(count)[-1], abs=1e-6)


def test_the_envelope_bounds_every_sample_when_all_are_read(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    signal = rng.normal(size=10_000) + 1j * rng.normal(size=10_000)
    signal[7_777] = 9 - 8j
    path = _write(tmp_path / "rx.sigmf-data", signal)
    with SampleFile.open(path, "cf32_le") as samples:
        envelope = samples.envelope(columns=100)
    assert envelope.exact and len(envelope.starts) == 100 and envelope.count == 10_000
    stored = signal.astype(np.complex64)
    for column, start in enumerate(envelope.starts):
        part = stored[start : start + 100]
        assert envelope.low[column] == pytest.approx(part.real.min() + 1j * part.imag.min())
        assert envelope.high[column] == pytest.approx(part.real.max() + 1j * part.imag.max())
    assert envelope.high.real.max() == pytest.approx(9) and envelope.low.imag.min() == -8
    assert np.argmax(envelope.high.real) == 77


def test_a_late_burst_shows_in_the_envelope_of_a_long_recording(tmp_path: Path) -> None:
    count = 8 << 20
    signal = np.full(count, 0.01 + 0.01j, dtype=np.complex64)
    signal[7_000_000:7_100_000] = 0.9 - 0.5j  # a burst of 0.1 s, near the end
    path = _write(tmp_path / "rx.sigmf-data", signal)
    with SampleFile.open(path, "cf32_le") as samples:
        envelope = samples.envelope(columns=400, per_column=4096)
    assert not envelope.exact  # 20,971 samples per column, 4096 read of each
    loud = np.flatnonzero(envelope.high.real > 0.5)
    columns = envelope.starts[loud]
    assert len(loud) >= 4
    assert columns.min() >= 7_000_000 - count // 400 and columns.max() < 7_100_000
    assert envelope.low.imag.min() == pytest.approx(-0.5)
    assert np.all(envelope.high.real <= 0.9 + 1e-6) and np.all(envelope.low.real >= 0.01 - 1e-6)


def test_the_constellation_of_qpsk_has_four_dense_spots() -> None:
    rng = np.random.default_rng(11)
    symbols = (rng.choice([-1, 1], size=200_000) + 1j * rng.choice([-1, 1], size=200_000)) / 2
    noisy = symbols + np.array([1, 1j]) @ rng.normal(scale=0.03, size=(2, 200_000))
    found = constellation([noisy[:100_000], noisy[100_000:]], bins=80)
    density = found.density
    assert found.extent == pytest.approx(0.5 * 1.15 + 0.1, abs=0.1)
    centres = np.linspace(-found.extent, found.extent, 81)
    centres = (centres[1:] + centres[:-1]) / 2
    spots = []
    for i_value in (-0.5, 0.5):
        for q_value in (-0.5, 0.5):
            column = int(np.argmin(abs(centres - i_value)))
            row = 79 - int(np.argmin(abs(centres - q_value)))  # row 0 is the highest Q
            spots.append(density[row - 1 : row + 2, column - 1 : column + 2].max())
    assert min(spots) > 0.9
    middle = density[35:45, 35:45]
    assert middle.max() == 0  # nothing between the four points
    # every dense cell lies by one of the four points, and each point has some
    rows, columns = np.nonzero(density > 0.5)
    i_values, q_values = centres[columns], centres[79 - rows]
    assert np.all((abs(abs(i_values) - 0.5) < 0.15) & (abs(abs(q_values) - 0.5) < 0.15))
    assert len({(i > 0, q > 0) for i, q in zip(i_values, q_values, strict=True)}) == 4


@pytest.mark.parametrize(
    ("datatype", "stored"),
    [
        ("cf32_le", "<f4"),
        ("cf64_be", ">f8"),
        ("ci16_le", "<i2"),
        ("ci32_be", ">i4"),
        ("ci8", "i1"),
        ("cu8", "u1"),
        ("cu16_le", "<u2"),
        ("rf32_le", "<f4"),
        ("ri16_be", ">i2"),
        ("ru8", "u1"),
    ],
)
def test_every_datatype_reads_as_the_first_samples_did(
    tmp_path: Path, datatype: str, stored: str
) -> None:
    path = tmp_path / "rx.sigmf-data"
    kind = np.dtype(stored)
    values: np.ndarray
    if kind.kind == "f":
        values = np.random.default_rng(2).normal(size=5000)
    else:
        values = np.random.default_rng(2).integers(np.iinfo(kind).min, np.iinfo(kind).max, 5000)
    values.astype(kind).tofile(path)
    expected = read_samples(path, datatype)
    with SampleFile.open(path, datatype) as samples:
        assert samples.count == len(expected)
        assert samples.read(0, samples.count) == pytest.approx(expected)
        assert samples.read(7, 3) == pytest.approx(expected[7:10])
        envelope = samples.envelope(columns=10)
    assert envelope.exact
    first = expected[: envelope.starts[1]]
    assert envelope.low[0] == pytest.approx(first.real.min() + 1j * first.imag.min())
    assert envelope.high[0] == pytest.approx(first.real.max() + 1j * first.imag.max())


def test_a_huge_sparse_recording_is_plotted_reading_a_bounded_part(tmp_path: Path) -> None:
    path = tmp_path / "rx.sigmf-data"
    with path.open("wb") as out:  # 4 GiB of which only a tone near the end is written
        out.truncate(4 << 30)
        out.seek((4 << 30) - (8 << 20))
        out.write(np.asarray(np.exp(2j * np.pi * 0.2 * np.arange(1 << 20)), np.complex64).tobytes())
    sigmf = {"datatype": "cf32_le", "sample_rate": RATE}
    before = _rchar()
    tracemalloc.start()
    made = recording_plots(path, sigmf, cache=BuildCache(tmp_path / "cache"), data_sha256="0" * 64)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    read = _rchar() - before
    assert made.problem is None and all(getattr(made, view).is_file() for view in VIEWS)
    assert read < (4 << 30) // 8, f"read {read} bytes of a 4 GiB recording"
    assert peak < 120 << 20, f"{peak} bytes allocated at once"
    spectrogram_svg = made.spectrogram.read_text(encoding="utf-8")  # type: ignore[union-attr]
    assert "time (s)" in spectrogram_svg and "frequency (MHz)" in spectrogram_svg
    # 537 s of samples: the time axis reaches past 400 s, and the tone is in its last row
    ticks = re.findall(r'text-anchor="end">([0-9.]+)</text>', spectrogram_svg)
    assert ticks == ["0", "200", "400"]
