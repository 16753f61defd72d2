"""The numbers behind the recording plots: samples, PSD, spectrogram, PNG and SVG."""

from __future__ import annotations

import itertools
import math
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from runner.site.plots import sweep_plots
from runner.site.png import colorize, encode_png
from runner.site.spectrum import UnsupportedRecording, psd, read_samples, spectrogram
from runner.site.svg import line_plot
from tests.testing.sites import tone


def test_psd_peaks_at_the_tone_frequency() -> None:
    rate, frequency = 1e6, 125e3
    spectrum = psd(tone(samples=16384, rate=rate, frequency=frequency), sample_rate=rate)
    peak = spectrum.frequencies[int(np.argmax(spectrum.power_db))]
    assert abs(peak - frequency) <= rate / 1024  # within one bin
    assert spectrum.power_db.max() - np.median(spectrum.power_db) > 30


def test_psd_is_centred_on_the_recording_frequency() -> None:
    spectrum = psd(tone(rate=1e6, frequency=-200e3), sample_rate=1e6, center=2.45e9)
    peak = spectrum.frequencies[int(np.argmax(spectrum.power_db))]
    assert abs(peak - (2.45e9 - 200e3)) <= 1e6 / 1024


def test_ci16_samples_are_read_and_scaled(tmp_path: Path) -> None:
    path = tmp_path / "rx.sigmf-data"
    np.array([16384, -16384, 0, 32767], dtype="<i2").tofile(path)
    samples = read_samples(path, "ci16_le")
    assert samples == pytest.approx([0.5 - 0.5j, 32767 / 32768 * 1j])


def test_big_endian_and_real_recordings_are_read(tmp_path: Path) -> None:
    path = tmp_path / "rx.sigmf-data"
    np.array([1.5, -2.0], dtype=">f4").tofile(path)
    assert read_samples(path, "rf32_be") == pytest.approx([1.5, -2.0])


def test_unknown_datatypes_and_short_recordings_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "rx.sigmf-data"
    np.zeros(8, dtype="<f4").tofile(path)
    with pytest.raises(UnsupportedRecording):
        read_samples(path, "cq99_le")
    with pytest.raises(UnsupportedRecording):
        psd(read_samples(path, "cf32_le"), sample_rate=1e6)


def test_spectrogram_has_the_tone_in_every_row() -> None:
    power = spectrogram(tone(samples=65536), bins=256, rows=50)
    assert power.shape == (50, 256)
    expected = 128 + round(125e3 / 1e6 * 256)  # fftshifted: 0 Hz in the middle
    assert set(np.argmax(power, axis=1)) == {expected}


def test_png_is_a_valid_rgb_image() -> None:
    image = colorize(np.linspace(0, 1, 12).reshape(3, 4))
    data = encode_png(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    _, kind = struct.unpack(">I4s", data[8:16])
    width, height = struct.unpack(">II", data[16:24])
    assert (kind, width, height) == (b"IHDR", 4, 3)
    idat = data.index(b"IDAT")
    size = struct.unpack(">I", data[idat - 4 : idat])[0]
    raw = zlib.decompress(data[idat + 4 : idat + 4 + size])
    assert len(raw) == 3 * (1 + 4 * 3)
    assert tuple(raw[1:4]) == (68, 1, 84)  # the ramp's dark end


def test_svg_text_is_escaped() -> None:
    svg = line_plot([0, 1], [1, 2], title="<script>x</script>", x_label="a&b", y_label="y")
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg and "a&amp;b" in svg


def test_a_metric_spanning_decades_gets_a_log_axis() -> None:
    runs = [
        ({"tx_level": level}, {"ber": ber, "snr_db": snr})
        for level, ber, snr in ((-46, 0.08, 4.0), (-42, 4e-3, 8.0), (-38, 1.1e-4, 12.0))
    ]
    plots = {plot.metric: plot.svg for plot in sweep_plots(runs)}
    ber, snr = plots["ber"], plots["snr_db"]
    assert ber is not None and snr is not None
    assert "ber (log scale)" in ber
    decades = re.findall(r'text-anchor="end">([^<]+)</text>', ber)
    assert decades == ["0.001", "0.01"]  # a tick per decade inside 1.1e-4 .. 0.08
    heights = [float(y) for y in re.findall(r'<circle cx="[0-9.]+" cy="([0-9.]+)"', ber)]
    steps = [b - a for a, b in itertools.pairwise(heights)]
    ratio = math.log10(0.08 / 4e-3) / math.log10(4e-3 / 1.1e-4)  # decades between the points
    assert steps[0] == pytest.approx(ratio * steps[1], abs=0.2)  # positions are rounded to 0.1
    assert "(log scale)" not in snr
