"""model/psd: the one averaged-spectrum rule of reproduce, diff and the site."""

from __future__ import annotations

import numpy as np

from runner.model.psd import mean_power, window_power


def test_a_tone_lands_in_its_bin_with_or_without_overlap() -> None:
    size = 64
    samples = np.exp(2j * np.pi * 5 / size * np.arange(size * 40)).astype(np.complex64)
    for step in (size, size // 2):
        power = mean_power([samples], size, step=step)
        assert int(np.argmax(power)) == 5
        assert power[5] > 1e6 * np.median(power)


def test_blocks_average_as_one_list_of_segments() -> None:
    rng = np.random.default_rng(1)
    a, b = (rng.normal(size=n) + 1j * rng.normal(size=n) for n in (256, 512))
    window = np.hanning(64)
    segments = [x[i : i + 64] * window for x in (a, b) for i in range(0, len(x) - 63, 32)]
    expected = np.mean([np.abs(np.fft.fft(s)) ** 2 for s in segments], axis=0)
    assert np.allclose(mean_power([a, b], 64, step=32), expected)


def test_no_whole_segment_is_no_power() -> None:
    assert not np.any(mean_power([np.zeros(10, dtype=np.complex128)], 64, step=32))
    assert window_power(64) == float(np.sum(np.hanning(64) ** 2))
