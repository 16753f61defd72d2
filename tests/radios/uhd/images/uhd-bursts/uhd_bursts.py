"""Timed bursts between two USRPs, written against uhd.usrp.MultiUSRP only.

tx: bursts of ``burst`` samples (a 50 kHz tone, sc16) every ``period`` samples
    from one second after it opens, each with a time spec; in the middle of
    burst HOP a timed command (set_command_time) retunes by +100 kHz.
rx: a timed NUM_SAMPS_AND_DONE capture (fc32) half a second after it opens;
    writes where the bursts begin and end, their tones, where the tone hops,
    and what asking for another sample rate said.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import uhd

TONE = 50e3
HOP = 100e3
HOP_AT = 100  # the burst whose middle the timed retune lands in
BURSTS = 400
CAPTURE = 10_000_000


def parameters() -> dict[str, int]:
    params: dict[str, int] = json.loads(Path(os.environ["RADIOPS_PARAMETERS"]).read_text("utf-8"))
    return params


def write_result(result: dict[str, object]) -> None:
    """result.json (everything) and metrics.json (its numbers)."""
    out = Path(os.environ["RADIOPS_OUTPUT_DIR"])
    numbers = {k: v for k, v in result.items() if isinstance(v, int | float)}
    for name, data in (("result.json", result), ("metrics.json", numbers)):
        (out / name).write_text(json.dumps(data), encoding="utf-8")
    print(json.dumps(result))


def tx() -> None:
    p = parameters()
    burst, period = p["burst"], p["period"]
    usrp = uhd.usrp.MultiUSRP("")
    rate = usrp.get_tx_rate()
    centre = usrp.get_tx_freq()
    stream = usrp.get_tx_stream(uhd.usrp.StreamArgs("sc16", "sc16"))
    tone = 0.5 * np.exp(2j * np.pi * TONE / rate * np.arange(burst))
    iq = np.empty(2 * burst, np.int16)
    iq[0::2], iq[1::2] = np.round(tone.real * 32767), np.round(tone.imag * 32767)
    samples = iq.view(np.uint32).reshape(1, burst)  # one sc16 sample per element
    start = usrp.get_time_now().get_real_secs() + 1.0
    for i in range(BURSTS):
        if i == HOP_AT:
            hop = start + (i * period + burst // 2) / rate
            usrp.set_command_time(uhd.types.TimeSpec(hop))
            usrp.set_tx_freq(uhd.types.TuneRequest(centre + HOP))
            usrp.clear_command_time()
        md = uhd.types.TXMetadata()
        md.start_of_burst = md.end_of_burst = md.has_time_spec = True
        md.time_spec = uhd.types.TimeSpec(start + i * period / rate)
        sent = 0
        while sent < burst:
            sent += stream.send(samples[:, sent:], md, 1.0)
            md.start_of_burst = md.has_time_spec = False
    events: dict[str, int] = {}
    md_async = uhd.types.TXAsyncMetadata()
    while stream.recv_async_msg(md_async, 1.0):
        name = str(md_async.event_code).rsplit(".", 1)[-1]
        events[name] = events.get(name, 0) + 1
    write_result({"bursts_sent": BURSTS, "events": events})


def bursts(x: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of every burst wholly inside the capture."""
    on = np.abs(x) > 0.5 * np.percentile(np.abs(x), 99)
    edges = np.flatnonzero(np.diff(on.astype(np.int8)))
    rises = [int(e) + 1 for e in edges if not on[e]]
    falls = [int(e) + 1 for e in edges if on[e]]
    return [(r, next(f for f in falls if f > r)) for r in rises if any(f > r for f in falls)]


def dbfs(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.abs(x) ** 2)))


def tone_of(x: np.ndarray, rate: float) -> float:
    spectrum = np.abs(np.fft.fft(x, 1 << 16))
    return float(np.fft.fftfreq(1 << 16, 1 / rate)[int(np.argmax(spectrum))])


def rx() -> None:
    usrp = uhd.usrp.MultiUSRP(f"serial={os.environ['RADIOPS_RADIO_SERIAL']}")
    rate = usrp.get_rx_rate()
    usrp.set_rx_gain(usrp.get_rx_gain())
    usrp.set_rx_freq(uhd.types.TuneRequest(usrp.get_rx_freq()))
    try:
        usrp.set_rx_rate(2 * rate)
        rate_error = ""
    except (RuntimeError, ValueError) as exc:
        rate_error = str(exc)
    stream = usrp.get_rx_stream(uhd.usrp.StreamArgs("fc32", "sc16"))
    command = uhd.types.StreamCMD(uhd.types.StreamMode.num_done)
    command.num_samps = CAPTURE
    command.stream_now = False
    wanted = usrp.get_time_now().get_real_secs() + 0.5
    command.time_spec = uhd.types.TimeSpec(wanted)
    stream.issue_stream_cmd(command)
    x = np.empty(CAPTURE, np.complex64)
    buffer = np.empty((1, 10000), np.complex64)
    md = uhd.types.RXMetadata()
    got, first, errors = 0, None, []
    deadline = time.monotonic() + 30
    while got < CAPTURE and time.monotonic() < deadline:
        n = stream.recv(buffer, md, 5.0)
        if md.error_code != uhd.types.RXMetadataErrorCode.none:
            errors.append(str(md.error_code))
            continue
        if first is None and n:
            first = md.time_spec.get_real_secs()
        x[got : got + n] = buffer[0, :n]
        got += n
        if md.end_of_burst:
            break
    x = x[:got]
    found = bursts(x)[1:-1]  # not the first or last: the medium may start or stop in them
    tones = [round(tone_of(x[a:b], rate)) for a, b in found]
    hop = None
    for a, b in found:  # the burst the timed retune landed in: where its tone hops
        middle = (a + b) // 2
        if abs(tone_of(x[middle:b], rate) - tone_of(x[a:middle], rate)) > HOP / 2:
            phase = np.angle(x[a + 1 : b] * np.conj(x[a : b - 1])) * rate / (2 * np.pi)
            hop = int(np.argmax(phase > TONE + HOP / 2))
    gaps = [x[e + 100 : s - 100] for (_, e), (s, _) in itertools.pairwise(found)]
    write_result(
        {
            "samples": got,
            "errors": errors,
            "first_sample_offset": None if first is None else round((first - wanted) * rate),
            "lengths": sorted({b - a for a, b in found}),
            "spacings": sorted({s2 - s1 for (s1, _), (s2, _) in itertools.pairwise(found)}),
            "bursts": len(found),
            "tones": sorted(set(tones)),
            "hop_at": hop,
            "gap_dbfs": max(dbfs(g) for g in gaps) if gaps else None,
            "burst_dbfs": dbfs(x[found[0][0] : found[0][1]]) if found else None,
            "rate_error": rate_error,
            "mboard": usrp.get_mboard_name(),
        }
    )


if __name__ == "__main__":
    {"tx": tx, "rx": rx}[sys.argv[1]]()
