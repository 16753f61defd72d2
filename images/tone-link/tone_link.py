"""tone-link: the TX role sends a complex tone, the RX role captures it and measures it.

    tone_link.py tx    send the tone (tone_offset Hz from the centre, tx_level dBFS)
    tone_link.py rx    capture capture_samples as a SigMF recording, then measure
                       the tone's frequency and SNR into metrics.json

The same code runs on USRPs and on simulated radios: radiops_radio.open_radio
opens either through UHD. The roles start at about the same time, not exactly,
and a radio hears only while it captures: the receiver first listens in short
probes until the tone is on (WAIT_S at most), then captures; the transmitter
sends for twice the capture plus MARGIN_S, so a receiver that starts that much
later still hears a whole capture.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from radiops_radio import Radio, open_radio, write_recording

#: bins each side of the peak counted as the tone (a Hann window spreads it over a few)
TONE_BINS = 8
#: seconds of tone sent beyond twice the capture: the receiver may start late
MARGIN_S = 3.0
#: how long the receiver listens for the tone before it gives up
WAIT_S = 30.0
#: samples of one probe, and how far the tone's peak stands above the median bin
#: for the tone to be on (noise alone: about 12 dB for the largest of 65,536 bins)
PROBE_SAMPLES = 1 << 16
ON_DB = 20.0


def parameters() -> dict[str, float]:
    params: dict[str, float] = json.loads(Path(os.environ["RADIOPS_PARAMETERS"]).read_text("utf-8"))
    return params


def transmit(params: dict[str, float]) -> None:
    with open_radio() as radio:
        rate = radio.settings.rate
        count = 2 * int(params["capture_samples"]) + int(MARGIN_S * rate)
        amplitude = 10 ** (params["tx_level"] / 20)
        phase = 2 * np.pi * params["tone_offset"] / rate * np.arange(count)
        radio.transmit(amplitude * np.exp(1j * phase))
        print(f"sent {count} samples of a {params['tone_offset']:g} Hz tone", flush=True)


def measure(samples: np.ndarray, rate: float) -> tuple[float, float, float]:
    """The tone's frequency (Hz from the centre), its SNR (dB) and the received power (dBFS)."""
    count = len(samples)
    window = np.hanning(count)
    power = np.abs(np.fft.fftshift(np.fft.fft(samples * window))) ** 2
    peak = int(np.argmax(power))
    # parabolic interpolation of the log spectrum around the peak: a fraction of a bin
    left, centre, right = np.log(power[[peak - 1, peak, (peak + 1) % count]])
    shift = 0.5 * (left - right) / (left - 2 * centre + right)
    frequency = (peak + shift - count // 2) * rate / count
    tone = np.zeros(count, dtype=bool)
    tone[max(0, peak - TONE_BINS) : peak + TONE_BINS + 1] = True
    noise_per_bin = float(np.mean(power[~tone]))
    signal = float(np.sum(power[tone])) - noise_per_bin * int(tone.sum())
    snr_db = 10 * math.log10(max(signal, 1e-30) / (noise_per_bin * count))
    received_dbfs = 10 * math.log10(float(np.mean(np.abs(samples) ** 2)))
    return frequency, snr_db, received_dbfs


def tone_is_on(samples: np.ndarray) -> bool:
    """The probe holds a tone: its spectrum's peak stands ON_DB above its median bin."""
    power = np.abs(np.fft.fft(samples * np.hanning(len(samples)))) ** 2
    median = float(np.median(power))
    return median > 0 and float(power.max()) > median * 10 ** (ON_DB / 10)


def wait_for_tone(radio: Radio) -> None:
    deadline = time.monotonic() + WAIT_S
    while not tone_is_on(radio.receive(PROBE_SAMPLES)):
        if time.monotonic() > deadline:
            raise SystemExit(f"tone-link: no tone heard within {WAIT_S:.0f} s")


def receive(params: dict[str, float]) -> None:
    out = Path(os.environ["RADIOPS_OUTPUT_DIR"])
    count = int(params["capture_samples"])
    with open_radio() as radio:
        settings = radio.settings
        wait_for_tone(radio)
        started = dt.datetime.now(dt.UTC)
        samples = radio.receive(count)
    write_recording(
        out / "capture",
        samples,
        sample_rate=settings.rate,
        center_frequency=settings.frequency,
        datetime=started,
        hw=f"{settings.type or 'radio'} {settings.serial or ''}".strip(),
        run_id=os.environ.get("RADIOPS_RUN_ID", ""),
        description="tone-link: the receiver's capture",
    )
    frequency, snr_db, received_dbfs = measure(samples, settings.rate)
    wanted = params["tone_offset"]
    metrics = {
        "frequency_offset_hz": frequency,
        "frequency_error_hz": frequency - wanted,
        "frequency_error_percent": 100 * abs(frequency - wanted) / abs(wanted) if wanted else 0.0,
        "snr_db": snr_db,
        "received_power_dbfs": received_dbfs,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(metrics), flush=True)


def main(argv: list[str]) -> int:
    roles = {"tx": transmit, "rx": receive}
    if len(argv) != 1 or argv[0] not in roles:
        print("usage: tone_link.py tx|rx", file=sys.stderr)
        return 2
    roles[argv[0]](parameters())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
