"""A tone from one GNU Radio flowgraph to another through the channel emulator.

tx: signal source -> ZMQ PUSH sink, which binds, at RADIOPS_CHANNEL_TX_BIND (runs
until the run's duration stops it); rx: ZMQ PULL source, which connects, at
RADIOPS_CHANNEL_RX -> head -> vector sink, then the tone's frequency (FFT peak,
refined) into metrics.json. The blocks as GNU Radio 3.10 has them, unchanged.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
from gnuradio import analog, blocks, gr, zeromq

params = json.loads(Path(os.environ["RADIOPS_PARAMETERS"]).read_text(encoding="utf-8"))
rate = float(os.environ["RADIOPS_RADIO_RATE"])
top = gr.top_block()
if sys.argv[1] == "tx":
    source = analog.sig_source_c(rate, analog.GR_COS_WAVE, params["tone_offset"], 0.1, 0)
    sink = zeromq.push_sink(gr.sizeof_gr_complex, 1, os.environ["RADIOPS_CHANNEL_TX_BIND"])
    top.connect(source, sink)
    top.run()
else:
    count = int(params["samples"])
    source = zeromq.pull_source(gr.sizeof_gr_complex, 1, os.environ["RADIOPS_CHANNEL_RX"])
    head = blocks.head(gr.sizeof_gr_complex, count)
    sink = blocks.vector_sink_c()
    top.connect(source, head, sink)
    top.run()
    samples = np.asarray(sink.data(), dtype=np.complex64)
    spectrum = np.abs(np.fft.fft(samples * np.hanning(len(samples))))
    peak = int(np.argmax(spectrum))
    frequency = float(np.fft.fftfreq(len(samples), 1 / rate)[peak])
    # refine between bins: the phase step of the tone brought down to baseband
    z = samples * np.exp(-2j * np.pi * frequency * np.arange(len(samples)) / rate)
    frequency += float(np.angle(np.sum(z[1:] * np.conj(z[:-1]))) * rate / (2 * np.pi))
    metrics = {"frequency_offset_hz": frequency, "samples": len(samples)}
    out = Path(os.environ["RADIOPS_OUTPUT_DIR"])
    (out / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    print(json.dumps(metrics))
