"""The PSD distance that judges reproduced SigMF recordings (pure: numpy only)."""

from __future__ import annotations

import numpy as np

from runner.reproduce.compare import PSD_BINS, psd_db, psd_distance_db

RATE = 1e6
SAMPLES = 1 << 20


def capture(*, tone_hz: float | None, seed: int, snr_db: float = 20.0) -> bytes:
    """A tone (at snr_db over the whole band) in complex white noise, as cf32_le bytes."""
    rng = np.random.default_rng(seed)
    noise = (rng.standard_normal(SAMPLES) + 1j * rng.standard_normal(SAMPLES)) / np.sqrt(2)
    signal = np.zeros(SAMPLES, np.complex128)
    if tone_hz is not None:
        n = np.arange(SAMPLES)
        signal = 10 ** (snr_db / 20) * np.exp(2j * np.pi * tone_hz * n / RATE)
    data: bytes = (signal + noise).astype("<c8").tobytes()
    return data


def distance(a: bytes, b: bytes) -> float:
    return psd_distance_db(psd_db(a, "cf32_le"), psd_db(b, "cf32_le"))


def test_the_same_recording_is_at_distance_zero() -> None:
    data = capture(tone_hz=100e3, seed=1)
    assert distance(data, data) == 0.0
    assert len(psd_db(data, "cf32_le")) == PSD_BINS


def test_other_noise_around_the_same_tone_is_close() -> None:
    assert distance(capture(tone_hz=100e3, seed=1), capture(tone_hz=100e3, seed=2)) < 0.5
    assert distance(capture(tone_hz=None, seed=1), capture(tone_hz=None, seed=2)) < 1.0


def test_a_moved_or_missing_tone_is_far() -> None:
    here = capture(tone_hz=100e3, seed=1)
    assert distance(here, capture(tone_hz=150e3, seed=1)) > 10.0
    assert distance(here, capture(tone_hz=None, seed=1)) > 10.0
