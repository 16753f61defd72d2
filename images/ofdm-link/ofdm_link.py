"""ofdm-link: GNU Radio's OFDM transmitter and receiver on two radios, through gr-uhd.

    ofdm_link.py tx             numbered packets, each one a burst (usrp_sink with a length tag)
    ofdm_link.py tx-continuous  numbered packets back to back in one continuous stream
    ofdm_link.py rx             receive the bursts, decode, count the packets; metrics.json
    ofdm_link.py rx-continuous  the same for a continuous stream, for ``listen`` seconds

The flowgraphs are the ones a USRP bench would run: gr-uhd's ``usrp_sink`` and
``usrp_source`` opened with the device arguments in ``UHD_ARGS`` (empty: the
first USRP found), tuned to the role's radio settings (``RADIOPS_RADIO_*``),
and gr-digital's ``ofdm_tx``/``ofdm_rx`` hier blocks with their defaults (64
carriers, 16-sample cyclic prefix, 48 data carriers, BPSK header, QPSK
payload, CRC32 checked at the receiver).

    tx:  PDUs -> pdu_to_tagged_stream -> ofdm_tx -> multiply_const -> usrp_sink("packet_len")
    tx-continuous:  vector_source (repeating) -> stream_to_tagged_stream -> ofdm_tx
                    -> multiply_const -> usrp_sink, for ``seconds``
    rx:  usrp_source -> head -> ofdm_rx -> tagged_stream_to_pdu -> message_debug
                             -> |x|^2 -> integrate (80 samples) -> vector_sink

A packet is ``packet_bytes`` long: its number (two bytes, big-endian) and bytes
drawn from ``seed`` and that number, so the receiver knows what each packet
must hold. The transmitter scales each frame to ``tx_level`` dBFS of mean
power (measured once on a frame from the same ofdm_tx, before the radio
opens), and keeps its radio open, silent, while the receiver listens.

The receiver counts each packet that passed the CRC and holds exactly what
was sent under its number. Bursts: the packet error rate is 1 - received /
``packets``. Continuous: the packets expected are the numbers spanned from
the first decoded to the last (they repeat every CONTINUOUS_PACKETS). The
signal-to-noise ratio (bursts only) is measured on the received samples: the
noise is the 40th percentile of the 80-sample window powers (the bursts fill
far less than a fifth of what the receiver hears, so this is the median of
the noise-only windows), the burst power the median of the windows over 2.5
times the noise, less the noise. Windows of exact zeros (before the medium
carries anything) are left out.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pmt
from gnuradio import blocks, digital, gr, pdu, uhd

LENGTH_TAG = "packet_len"
FFT_LEN, CP_LEN = 64, 16
WINDOW = FFT_LEN + CP_LEN  # samples per power measurement: one OFDM symbol
CONTINUOUS_PACKETS = 4096  # distinct packets a continuous transmitter cycles through
SEQUENCE_BYTES = 2


def parameters() -> dict[str, Any]:
    params: dict[str, Any] = json.loads(Path(os.environ["RADIOPS_PARAMETERS"]).read_text("utf-8"))
    return params


def radio(name: str, default: str = "") -> str:
    return os.environ.get(f"RADIOPS_RADIO_{name}", default)


def payload(params: dict[str, Any], number: int) -> bytes:
    """Packet ``number``: its number, then bytes drawn from the seed and the number."""
    size = int(params["packet_bytes"]) - SEQUENCE_BYTES
    body = np.random.default_rng([int(params["seed"]), number]).integers(0, 256, size, np.uint8)
    return number.to_bytes(SEQUENCE_BYTES, "big") + body.tobytes()


def frame_power(params: dict[str, Any]) -> tuple[float, int]:
    """Mean power and length in samples of one frame from ofdm_tx (no radio involved)."""
    top = gr.top_block()
    data = list(payload(params, 0))
    source = blocks.vector_source_b(data, False)
    tagger = blocks.stream_to_tagged_stream(gr.sizeof_char, 1, len(data), LENGTH_TAG)
    sink = blocks.vector_sink_c()
    top.connect(source, tagger, ofdm_tx(), sink)
    top.run()
    frame = np.asarray(sink.data(), dtype=np.complex64)
    return float(np.mean(np.abs(frame) ** 2)), len(frame)


def ofdm_tx() -> gr.hier_block2:
    return digital.ofdm_tx(fft_len=FFT_LEN, cp_len=CP_LEN, packet_length_tag_key=LENGTH_TAG)


def usrp_sink(length_tag: str) -> Any:
    args = os.environ.get("UHD_ARGS", "")
    sink = opened(lambda: uhd.usrp_sink(args, uhd.stream_args("fc32", channels=[0]), length_tag))
    tune(sink)
    return sink


def usrp_source() -> Any:
    args = os.environ.get("UHD_ARGS", "")
    source = opened(lambda: uhd.usrp_source(args, uhd.stream_args("fc32", channels=[0])))
    tune(source)
    return source


def opened(make: Callable[[], Any]) -> Any:
    """A gr-uhd block, or a clear exit when UHD finds no USRP."""
    try:
        return make()
    except RuntimeError as error:
        args = os.environ.get("UHD_ARGS", "")
        raise SystemExit(
            f"ofdm-link: cannot open a USRP with device arguments {args!r} (UHD_ARGS):"
            f" {str(error).splitlines()[0]}. Check that the node's radio is connected"
            " (radiops testbed probe) and that testbed.yaml gives its arguments."
        ) from None


def tune(device: Any) -> None:
    device.set_samp_rate(float(radio("RATE")))
    device.set_center_freq(float(radio("FREQUENCY")), 0)
    if radio("GAIN"):
        device.set_gain(float(radio("GAIN")), 0)
    if radio("ANTENNA"):
        device.set_antenna(radio("ANTENNA"), 0)


def scale(params: dict[str, Any]) -> blocks.multiply_const_cc:
    power, _ = frame_power(params)
    return blocks.multiply_const_cc(math.sqrt(10 ** (params["tx_level"] / 10) / power))


def transmit_bursts(params: dict[str, Any]) -> None:
    top = gr.top_block()
    to_stream = pdu.pdu_to_tagged_stream(gr.types.byte_t, LENGTH_TAG)
    top.connect(to_stream, ofdm_tx(), scale(params), usrp_sink(LENGTH_TAG))
    count, period = int(params["packets"]), params["period"]
    top.start()
    opened = time.monotonic()
    time.sleep(params["lead"])
    started = time.monotonic()
    for number in range(count):
        # at the period of wall time: the device sends each burst as it comes
        time.sleep(max(0.0, started + number * period - time.monotonic()))
        data = payload(params, number)
        message = pmt.cons(pmt.PMT_NIL, pmt.init_u8vector(len(data), list(data)))
        to_stream._post(pmt.intern("pdus"), message)
    # the radio stays open (silent) while the receiver listens, as a bench would keep it
    time.sleep(max(1.0, opened + listening(params) + 1.0 - time.monotonic()))
    top.stop()
    top.wait()
    print(f"sent {count} packets of {int(params['packet_bytes'])} bytes, one burst each")


def transmit_continuous(params: dict[str, Any]) -> None:
    top = gr.top_block()
    data = [b for n in range(CONTINUOUS_PACKETS) for b in payload(params, n)]
    source = blocks.vector_source_b(data, True)
    tagger = blocks.stream_to_tagged_stream(
        gr.sizeof_char, 1, int(params["packet_bytes"]), LENGTH_TAG
    )
    top.connect(source, tagger, ofdm_tx(), scale(params), usrp_sink(""))
    top.start()
    time.sleep(params["seconds"])
    top.stop()
    top.wait()
    print(f"sent {params['seconds']:g} s of packets of {int(params['packet_bytes'])} bytes")


def listening(params: dict[str, Any]) -> float:
    """How long the receiver of bursts listens, in seconds of samples.

    The bursts come after the transmitter's lead, counted from when it opened its
    radio, which may be a little after the receiver opened its own.
    """
    seconds: float = 2 * params["lead"] + params["packets"] * params["period"] + 1.0
    return seconds


def receive(params: dict[str, Any], *, continuous: bool) -> None:
    out = Path(os.environ["RADIOPS_OUTPUT_DIR"])
    rate = float(radio("RATE"))
    listen = params["listen"] if continuous else listening(params)
    count = int(listen * rate) // WINDOW * WINDOW
    top = gr.top_block()
    source = usrp_source()
    head = blocks.head(gr.sizeof_gr_complex, count)
    rx = digital.ofdm_rx(fft_len=FFT_LEN, cp_len=CP_LEN, packet_length_tag_key=LENGTH_TAG)
    to_pdu = pdu.tagged_stream_to_pdu(gr.types.byte_t, LENGTH_TAG)
    store = blocks.message_debug()
    power = blocks.complex_to_mag_squared()
    window = blocks.integrate_ff(WINDOW)
    powers = blocks.vector_sink_f()
    top.connect(source, head, rx, to_pdu)
    top.msg_connect(to_pdu, "pdus", store, "store")
    top.connect(head, power, window, powers)
    top.start()
    # a receiver that cannot keep up loses samples (overflows) and never gets them all
    deadline = time.monotonic() + 2 * listen + 10
    while head.nitems_written(0) < count:
        if time.monotonic() > deadline:
            top.stop()
            top.wait()
            raise SystemExit(
                f"ofdm-link rx: received {head.nitems_written(0)} of {count} samples in"
                f" {2 * listen + 10:.0f} s: the receiver cannot keep up with"
                f" {rate:g} samples/s here (lower the radio rate, or give it more CPU)"
            )
        time.sleep(0.1)
    time.sleep(1.0)  # the receiver chain decodes what it holds
    top.stop()
    top.wait()
    messages = [store.get_message(i) for i in range(store.num_messages())]
    packets = [bytes(pmt.u8vector_elements(pmt.cdr(message))) for message in messages]
    metrics = count_packets(params, packets, continuous=continuous)
    if not continuous:  # a continuous stream leaves no silence to measure the noise on
        metrics.update(measure_snr(np.asarray(powers.data(), dtype=np.float64) / WINDOW))
    metrics["samples"] = count
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(metrics), flush=True)


def count_packets(
    params: dict[str, Any], packets: list[bytes], *, continuous: bool
) -> dict[str, Any]:
    """How many distinct packets arrived intact, and how many were expected."""
    cycle = CONTINUOUS_PACKETS if continuous else 1 << (8 * SEQUENCE_BYTES)
    numbers: list[int] = []
    wrong = 0
    for packet in packets:
        number = int.from_bytes(packet[:SEQUENCE_BYTES], "big")
        if number >= cycle or packet != payload(params, number):
            wrong += 1
        else:
            numbers.append(number)
    if continuous:
        # number the packets along the stream (the numbers repeat every cycle)
        position, received = 0, set()
        for previous, number in zip([None, *numbers], numbers, strict=False):
            if previous is not None:
                position += (number - previous) % cycle
            received.add(position)
        expected = position + 1 if numbers else 0
        gaps = [p for p in range(expected) if p not in received]
        print(f"{len(numbers)} packets decoded, first number {numbers[:1]}, missing at {gaps[:20]}")
    else:
        received = set(numbers)
        expected = int(params["packets"])
    per = 1.0 - len(received) / expected if expected else 1.0
    if not continuous:
        missing = sorted(set(range(expected)) - received)
        more = " ..." if len(missing) > 20 else ""
        print(f"{len(missing)} packets missing: {missing[:20]}{more}")
    return {
        "per": per,
        "packets_expected": expected,
        "packets_received": len(received),
        "packets_duplicated": len(numbers) - len(received),
        "packets_wrong": wrong,
    }


def measure_snr(powers: np.ndarray) -> dict[str, float]:
    """Noise power, burst power and their ratio from window powers (linear, per sample)."""
    powers = powers[powers > 0]  # before the medium carries anything (a radio never gives 0)
    noise = float(np.percentile(powers, 40)) if len(powers) else 0.0
    loud = powers[powers > 2.5 * noise]
    result = {"noise_dbfs": 10 * math.log10(noise) if noise > 0 else -300.0}
    if len(loud) and noise > 0:
        signal = float(np.median(loud)) - noise
        result["signal_dbfs"] = 10 * math.log10(signal)
        result["snr_db"] = 10 * math.log10(signal / noise)
    return result


def main(argv: list[str]) -> int:
    roles: dict[str, Callable[[dict[str, Any]], None]] = {
        "tx": transmit_bursts,
        "tx-continuous": transmit_continuous,
        "rx": lambda p: receive(p, continuous=False),
        "rx-continuous": lambda p: receive(p, continuous=True),
    }
    if len(argv) != 1 or argv[0] not in roles:
        print("usage: ofdm_link.py tx|tx-continuous|rx|rx-continuous", file=sys.stderr)
        return 2
    roles[argv[0]](parameters())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
