"""bpsk-ber: bit error rate of BPSK between two radios.

    bpsk_ber.py tx    send a burst: silence, a known preamble, then random bits
    bpsk_ber.py rx    receive the burst, find it, detect the bits, count the errors

The burst, in samples at the radio's rate:

    lead zeros | guard zeros | preamble (PREAMBLE_SYMBOLS) | data (bits) | tail zeros
                               each symbol is +-amplitude held for sps samples
                               (rectangular pulses)

The two roles start at about the same time, but not exactly, and a radio hears
only from the moment its capture starts. The lead (``lead_s`` seconds of
silence) lets the receiver start up to that much later than the transmitter;
the receiver captures as much again before and finds the preamble where it is.

Both roles draw the data bits from the ``seed`` parameter, so the receiver
knows what was sent. The receiver measures the noise power N0 on the guard
(noise only), finds the preamble by correlation (its phase too), detects each
symbol with a matched filter (integrate and dump) and a sign decision, and
measures Eb/N0 from the data's power above the noise. With rectangular pulses
and coherent detection the theory is BER = Q(sqrt(2 Eb/N0)).

Not handled: carrier frequency offset between real radios (share a reference
clock, or keep bursts short), and sample-clock drift.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
from radiops_radio import RadioSettings, open_radio, write_recording

PREAMBLE_SYMBOLS = 512
PREAMBLE_SEED = 0x5EED  # fixed: the preamble is the same for every run
RECORDED_SAMPLES = 1 << 16  # kept as a SigMF recording from the start of the burst
SEARCH_BLOCK = 1 << 20  # samples correlated at a time when looking for the preamble
PREAMBLE_SNR_MIN = 100.0  # 20 dB: at 0 dB Eb/N0 and 4 samples a symbol the preamble gives 27


def parameters() -> dict[str, float]:
    params: dict[str, float] = json.loads(Path(os.environ["RADIOPS_PARAMETERS"]).read_text("utf-8"))
    return params


def preamble() -> np.ndarray:
    return 1.0 - 2.0 * np.random.default_rng(PREAMBLE_SEED).integers(0, 2, PREAMBLE_SYMBOLS)


def data_bits(params: dict[str, float]) -> np.ndarray:
    return np.random.default_rng(int(params["seed"])).integers(0, 2, int(params["bits"]))


def burst_layout(params: dict[str, float]) -> tuple[int, int, int]:
    """guard, signal and tail lengths in samples."""
    sps = int(params["sps"])
    guard = int(params["guard_samples"])
    signal = (PREAMBLE_SYMBOLS + int(params["bits"])) * sps
    return guard, signal, guard


def lead_samples(params: dict[str, float], rate: float) -> int:
    return int(params["lead_s"] * rate)


def transmit(params: dict[str, float]) -> None:
    sps = int(params["sps"])
    amplitude = 10 ** (params["tx_level"] / 20)
    symbols = np.concatenate([preamble(), 1.0 - 2.0 * data_bits(params)])
    guard, _, tail = burst_layout(params)
    settings = RadioSettings.from_env()
    lead = lead_samples(params, settings.rate)
    burst = np.concatenate(
        [np.zeros(lead + guard), amplitude * np.repeat(symbols, sps), np.zeros(tail)]
    ).astype(np.complex64)
    with open_radio(settings) as radio:  # once the burst is ready: the lead starts now
        radio.transmit(burst)
    print(f"sent {len(burst)} samples: {int(params['bits'])} bits at {sps} samples/symbol")


def find_burst(samples: np.ndarray, reference: np.ndarray, search: int) -> tuple[int, complex]:
    """Where the preamble starts within the first ``search`` samples, and its complex gain.

    Correlated a block at a time (FFT), so a long search takes bounded memory.
    """
    energy = float(np.vdot(reference, reference).real)
    size = 1 << math.ceil(math.log2(SEARCH_BLOCK + 2 * len(reference)))
    conj_reference = np.conj(np.fft.fft(reference, size))
    best, start, peak = -1.0, 0, 0j
    for begin in range(0, search + 1, SEARCH_BLOCK):
        window = samples[begin : begin + SEARCH_BLOCK + len(reference) - 1]
        positions = min(SEARCH_BLOCK, search + 1 - begin, len(window) - len(reference) + 1)
        if positions <= 0:
            break
        correlation = np.fft.ifft(np.fft.fft(window, size) * conj_reference)[:positions]
        here = int(np.argmax(np.abs(correlation)))
        if abs(correlation[here]) > best:
            best, start, peak = abs(correlation[here]), begin + here, complex(correlation[here])
    return start, peak / energy


def receive(params: dict[str, float]) -> None:
    out = Path(os.environ["RADIOPS_OUTPUT_DIR"])
    sps = int(params["sps"])
    guard, signal, tail = burst_layout(params)
    with open_radio() as radio:
        settings = radio.settings
        lead = lead_samples(params, settings.rate)
        samples = radio.receive(2 * lead + guard + signal + tail)
    reference = np.repeat(preamble(), sps).astype(np.complex64)
    start, gain = find_burst(samples, reference, 2 * lead + guard + tail)
    # the noise: the guard just before the burst (earlier, the capture may hold the
    # zeros of a medium that had not started yet)
    noise = samples[max(start - guard, 0) : max(start - sps, 0)]
    if len(noise) < 1000:
        raise SystemExit(
            f"the burst started {start} samples into the capture: too little silence before "
            "it (did the receiver start more than lead_s after the transmitter?)"
        )
    n0 = float(np.mean(np.abs(noise) ** 2))
    # the preamble's correlation peak against the noise's: far above it, or no burst
    preamble_snr = abs(gain) ** 2 * float(np.vdot(reference, reference).real) / n0
    if preamble_snr < PREAMBLE_SNR_MIN:
        raise SystemExit(
            f"no preamble in the first {2 * lead + guard + tail} samples of the capture (the "
            f"best match stands {10 * math.log10(max(preamble_snr, 1e-12)):.1f} dB above the "
            "noise): the roles started more than lead_s apart, or the transmitter was not heard"
        )
    body = samples[start : start + signal] * (abs(gain) / gain)  # undo the channel's phase
    matched = body.reshape(-1, sps).sum(axis=1)
    # The preamble alone leaves a phase error of about 2 degrees at 0 dB Eb/N0, and
    # that costs as much as the bit errors' own statistical spread: refine the phase
    # on every symbol (squared, BPSK carries no data; the preamble's estimate already
    # settles the half-turn ambiguity).
    residual = np.angle(np.sum(matched.astype(np.complex128) ** 2)) / 2
    symbols = (matched * np.exp(-1j * residual)).real[PREAMBLE_SYMBOLS:]
    sent = data_bits(params)
    errors = int(np.count_nonzero((symbols < 0).astype(int) != sent))
    data = samples[start + PREAMBLE_SYMBOLS * sps : start + signal]
    signal_power = float(np.mean(np.abs(data) ** 2)) - n0
    ebn0 = signal_power * sps / n0
    metrics = {
        "ber": errors / len(sent),
        "bit_errors": errors,
        "bits": len(sent),
        "ebn0_db": 10 * math.log10(ebn0) if ebn0 > 0 else -100.0,
        "noise_power_dbfs": 10 * math.log10(n0),
        "burst_start_samples": start,
    }
    write_recording(
        out / "burst",
        samples[start : start + RECORDED_SAMPLES],
        sample_rate=settings.rate,
        center_frequency=settings.frequency,
        datetime=_now(),
        hw=f"{settings.type or 'radio'} {settings.serial or ''}".strip(),
        run_id=os.environ.get("RADIOPS_RUN_ID", ""),
        description="bpsk-ber: the start of the received burst",
    )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(metrics), flush=True)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def main(argv: list[str]) -> int:
    roles = {"tx": transmit, "rx": receive}
    if len(argv) != 1 or argv[0] not in roles:
        print("usage: bpsk_ber.py tx|rx", file=sys.stderr)
        return 2
    roles[argv[0]](parameters())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
