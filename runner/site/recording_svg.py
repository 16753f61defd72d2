"""The recording views as standalone SVG documents with labelled axes; every text is escaped.

The spectrogram and the constellation are rasters (PNG, embedded as a
``data:`` URI, which an SVG shown by ``<img>`` may load) inside axes drawn
as vectors; SigMF annotations are boxes over the spectrogram.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np

from runner.site.png import RAMP, colorize, encode_png
from runner.site.recording_data import Constellation, Spectrogram
from runner.site.sigmf_meta import Annotation
from runner.site.spectrum import FloatArray
from runner.site.strides import Envelope
from runner.site.svg import _fraction, _number, _span, _ticks

LABEL_CHARS = 40  # an annotation's label is cut to this many characters on the plot
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 72, 72, 28, 44
I_COLOUR, Q_COLOUR = "#3f51b5", "#e65100"


@dataclass(frozen=True, kw_only=True)
class Axis:
    """Values from ``low`` to ``high`` drawn from pixel ``start`` to pixel ``end``."""

    low: float
    high: float
    start: float
    end: float

    def at(self, value: float) -> float:
        return self.start + _fraction(value, self.low, self.high) * (self.end - self.start)


def frequency_unit(center: float, rate: float) -> tuple[str, float]:
    """The unit of a frequency axis (as the PSD's) and its size in Hz."""
    return ("MHz", 1e6) if center or rate >= 1e6 else ("kHz", 1e3)


def time_unit(duration: float) -> tuple[str, float]:
    """The unit of a time axis spanning ``duration`` seconds, and its size in seconds."""
    if duration >= 1:
        return "s", 1.0
    return ("ms", 1e-3) if duration >= 1e-3 else ("µs", 1e-6)


def _frame(
    *, title: str, width: int, height: int, x: Axis, y: Axis, x_label: str, y_label: str
) -> list[str]:
    """The SVG's start: background, title, plot box, ticks and axis labels."""
    for axis in (x, y):
        if not (math.isfinite(axis.low) and math.isfinite(axis.high)):
            raise ValueError("an axis does not span finite numbers")
    left, right = min(x.start, x.end), max(x.start, x.end)
    top, bottom = min(y.start, y.end), max(y.start, y.end)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{escape(title)}</text>',
    ]
    for value in _ticks(min(x.low, x.high), max(x.low, x.high)):
        px = x.at(value)
        parts.append(
            f'<line x1="{px:.1f}" y1="{bottom}" x2="{px:.1f}" y2="{bottom + 4}" stroke="#999"/>'
            f'<text x="{px:.1f}" y="{bottom + 16}" text-anchor="middle">{_number(value)}</text>'
        )
    for value in _ticks(min(y.low, y.high), max(y.low, y.high)):
        py = y.at(value)
        parts.append(
            f'<line x1="{left - 4}" y1="{py:.1f}" x2="{left}" y2="{py:.1f}" stroke="#999"/>'
            f'<text x="{left - 6}" y="{py + 4:.1f}" text-anchor="end">{_number(value)}</text>'
        )
    middle = (top + bottom) / 2
    parts.append(
        f'<text x="{(left + right) / 2}" y="{height - 8}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text x="14" y="{middle}" text-anchor="middle" '
        f'transform="rotate(-90 14 {middle})">{escape(y_label)}</text>'
    )
    return parts


def _raster(image: bytes, x: Axis, y: Axis) -> str:
    left, top = min(x.start, x.end), min(y.start, y.end)
    encoded = base64.b64encode(image).decode("ascii")
    return (
        f'<image x="{left}" y="{top}" width="{abs(x.end - x.start)}" '
        f'height="{abs(y.end - y.start)}" preserveAspectRatio="none" '
        f'style="image-rendering:pixelated" href="data:image/png;base64,{encoded}"/>'
    )


def _box(x: Axis, y: Axis) -> str:
    left, top = min(x.start, x.end), min(y.start, y.end)
    return (
        f'<rect x="{left}" y="{top}" width="{abs(x.end - x.start)}" '
        f'height="{abs(y.end - y.start)}" fill="none" stroke="#999"/>'
    )


def _colour_bar(low: float, high: float, *, x: float, top: float, bottom: float) -> str:
    stops = "".join(
        f'<stop offset="{i / (len(RAMP) - 1):.2f}" stop-color="rgb({r:.0f},{g:.0f},{b:.0f})"/>'
        for i, (r, g, b) in enumerate(RAMP[::-1])
    )
    return (
        f'<defs><linearGradient id="ramp" x1="0" y1="0" x2="0" y2="1">{stops}</linearGradient>'
        f'</defs><rect x="{x}" y="{top}" width="12" height="{bottom - top}" fill="url(#ramp)"/>'
        f'<text x="{x + 16}" y="{top + 8}">{high:.0f} dB</text>'
        f'<text x="{x + 16}" y="{bottom}">{low:.0f} dB</text>'
    )


def spectrogram_svg(
    spectrogram: Spectrogram,
    levels: tuple[float, float],
    *,
    sample_rate: float,
    center: float,
    annotations: Sequence[Annotation] = (),
    width: int = 720,
    height: int = 480,
) -> str:
    """Frequency to the right, time downwards over the whole recording, annotations boxed.

    ``levels``: the power (dB) of the ramp's dark and bright ends.
    """
    count = int(spectrogram.edges[-1])
    duration = count / sample_rate
    f_unit, f_size = frequency_unit(center, sample_rate)
    t_unit, t_size = time_unit(duration)
    x = Axis(
        low=(center - sample_rate / 2) / f_size,
        high=(center + sample_rate / 2) / f_size,
        start=_MARGIN_LEFT,
        end=width - _MARGIN_RIGHT,
    )
    y = Axis(low=0.0, high=duration / t_size, start=_MARGIN_TOP, end=height - _MARGIN_BOTTOM)
    parts = _frame(
        title="Spectrogram",
        width=width,
        height=height,
        x=x,
        y=y,
        x_label=f"frequency ({f_unit})",
        y_label=f"time ({t_unit})",
    )
    low, high = levels
    # an overflowed (infinite) power is the brightest; NaN the darkest
    power = np.nan_to_num(spectrogram.power_db, nan=low, posinf=high, neginf=low)
    image = encode_png(colorize((power - low) / ((high - low) or 1.0)))
    parts.append(_raster(image, x, y))
    for note in annotations:
        parts.append(_annotation(note, x, y, center=center, rate=sample_rate, count=count))
    parts.append(_box(x, y))
    parts.append(_colour_bar(low, high, x=width - _MARGIN_RIGHT + 8, top=y.start, bottom=y.end))
    parts.append("</svg>")
    return "".join(parts)


def _annotation(
    note: Annotation, x: Axis, y: Axis, *, center: float, rate: float, count: int
) -> str:
    """A box from the annotation's first sample to its last, between its frequency edges."""
    f_size = frequency_unit(center, rate)[1]
    first = min(max(note.sample_start, 0), count)
    last = count if note.sample_count is None else min(first + note.sample_count, count)
    lower = center - rate / 2 if note.freq_lower_edge is None else note.freq_lower_edge
    upper = center + rate / 2 if note.freq_upper_edge is None else note.freq_upper_edge
    x0, x1 = (_clamp(x, x.at(lower / f_size)), _clamp(x, x.at(upper / f_size)))
    t_scale = y.high / count if count else 0.0
    y0, y1 = _clamp(y, y.at(first * t_scale)), _clamp(y, y.at(last * t_scale))
    label = escape(note.label[:LABEL_CHARS])
    return (
        f'<rect x="{min(x0, x1):.1f}" y="{min(y0, y1):.1f}" width="{abs(x1 - x0):.1f}" '
        f'height="{max(abs(y1 - y0), 1):.1f}" fill="none" stroke="#fff" stroke-width="1.5"/>'
        f'<text x="{min(x0, x1) + 3:.1f}" y="{min(y0, y1) + 12:.1f}" fill="#fff" stroke="#000" '
        f'stroke-width="2.5" paint-order="stroke">{label}</text>'
    )


def _clamp(axis: Axis, pixel: float) -> float:
    low, high = sorted((axis.start, axis.end))
    return min(max(pixel, low), high) if math.isfinite(pixel) else low


def envelope_svg(
    envelope: Envelope, *, sample_rate: float, width: int = 720, height: int = 320
) -> str:
    """I and Q against time: per column, a band from the least value to the greatest."""
    duration = max(envelope.count, 1) / sample_rate
    unit, size = time_unit(duration)
    finite = [
        float(v)
        for part in (envelope.low, envelope.high)
        for v in np.concatenate([part.real, part.imag])
        if math.isfinite(v)
    ]
    if not finite:
        raise ValueError("nothing to plot: no finite sample")
    y_low, y_high = _span([min(finite), max(finite)])
    x = Axis(low=0.0, high=duration / size, start=_MARGIN_LEFT, end=width - _MARGIN_RIGHT)
    y = Axis(low=y_low, high=y_high, start=height - _MARGIN_BOTTOM, end=_MARGIN_TOP)
    title = "I and Q against time" + ("" if envelope.exact else " (extremes of samples read)")
    parts = _frame(
        title=title,
        width=width,
        height=height,
        x=x,
        y=y,
        x_label=f"time ({unit})",
        y_label="amplitude",
    )
    times = envelope.starts / sample_rate / size
    for name, colour, low, high in (
        ("I", I_COLOUR, envelope.low.real, envelope.high.real),
        ("Q", Q_COLOUR, envelope.low.imag, envelope.high.imag),
    ):
        parts.append(_band(times, low, high, x, y, colour=colour, name=name))
    right = width - _MARGIN_RIGHT
    parts.append(
        f'<text x="{right + 8}" y="{_MARGIN_TOP + 12}" fill="{I_COLOUR}">I</text>'
        f'<text x="{right + 8}" y="{_MARGIN_TOP + 28}" fill="{Q_COLOUR}">Q</text>'
    )
    parts.append(_box(x, y))
    parts.append("</svg>")
    return "".join(parts)


def _band(
    times: FloatArray,
    low: FloatArray,
    high: FloatArray,
    x: Axis,
    y: Axis,
    *,
    colour: str,
    name: str,
) -> str:
    keep = np.isfinite(low) & np.isfinite(high)
    columns = np.flatnonzero(keep)
    step = (x.end - x.start) / max(len(times), 1)
    upper = [(x.at(float(times[c])), y.at(float(high[c]))) for c in columns]
    lower = [(x.at(float(times[c])), y.at(float(low[c]))) for c in columns[::-1]]
    upper += [(px + step, py) for px, py in upper[-1:]]
    lower = [(px + step, py) for px, py in lower[:1]] + lower
    points = " ".join(f"{px:.1f},{py:.1f}" for px, py in upper + lower)
    return (
        f'<polygon class="radiops-{name}" points="{points}" fill="{colour}" '
        f'fill-opacity="0.55" stroke="{colour}" stroke-width="0.6"/>'
    )


def constellation_svg(found: Constellation, *, size: int = 420) -> str:
    """The density of I/Q, I to the right and Q upwards, on square axes."""
    side = size - _MARGIN_TOP - _MARGIN_BOTTOM
    x = Axis(low=-found.extent, high=found.extent, start=_MARGIN_LEFT, end=_MARGIN_LEFT + side)
    y = Axis(low=-found.extent, high=found.extent, start=_MARGIN_TOP + side, end=_MARGIN_TOP)
    parts = _frame(
        title="Constellation (density, log scale)",
        width=_MARGIN_LEFT + side + 24,
        height=size,
        x=x,
        y=y,
        x_label="I",
        y_label="Q",
    )
    parts.append(_raster(encode_png(colorize(found.density)), x, y))
    parts.append(_box(x, y))
    parts.append("</svg>")
    return "".join(parts)
