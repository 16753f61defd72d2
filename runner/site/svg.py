"""Line plots as small standalone SVG documents; every text is escaped."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 640
HEIGHT = 320
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 28, 44
_LARGEST = sys.float_info.max


@dataclass(frozen=True)
class _Frame:
    """The plot area and the data ranges it shows."""

    x_low: float
    x_high: float
    y_low: float
    y_high: float
    width: float = WIDTH - _LEFT - _RIGHT
    height: float = HEIGHT - _TOP - _BOTTOM

    def at(self, x: float, y: float) -> tuple[float, float]:
        return (
            _LEFT + _fraction(x, self.x_low, self.x_high) * self.width,
            _TOP + (1 - _fraction(y, self.y_low, self.y_high)) * self.height,
        )


def line_plot(
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_names: Sequence[str] | None = None,
    markers: bool = False,
    log_y: bool = False,
    y_errors: Sequence[float] | None = None,
    notes: Sequence[str] | None = None,
    flagged: Sequence[bool] | None = None,
) -> str:
    """An SVG line through (xs[i], ys[i]); ``x_names`` labels categorical x positions.

    ``log_y``: a logarithmic y axis with a tick per decade (points at or below
    zero are left out), for quantities such as error rates. ``y_errors``: a
    half-width per point (0 or NaN: none), drawn as an error bar y ± half-width.
    ``notes``: a tooltip per point (implies markers); ``flagged``: points drawn
    as a red ring, class ``flagged`` (a regression).
    """
    count = len(ys)
    halves = list(y_errors) if y_errors is not None else [0.0] * count
    tips = list(notes) if notes is not None else [""] * count
    flags = list(flagged) if flagged is not None else [False] * count
    kept = [
        (x, math.log10(y) if log_y else y, _bar(x, y, h, log_y) if h > 0 else None, tip, flag)
        for x, y, h, tip, flag in zip(
            xs, ys, [h if math.isfinite(h) else 0.0 for h in halves], tips, flags, strict=True
        )
        if math.isfinite(x) and math.isfinite(y) and (y > 0 or not log_y)
    ]
    if not kept:
        raise ValueError("nothing to plot: no finite point")
    bars = [bar for *_, bar, _, _ in kept if bar is not None]
    frame = _Frame(
        *_span([x for x, *_ in kept]),
        *_span([y for _, y, *_ in kept] + [v for _, low, high in bars for v in (low, high)]),
    )
    parts = [_frame_svg(frame, title), *_axes_svg(frame, x_names=x_names, log_y=log_y)]
    parts.append(
        f'<text x="{_LEFT + frame.width / 2}" y="{HEIGHT - 8}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text x="14" y="{_TOP + frame.height / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {_TOP + frame.height / 2})">{escape(y_label)}</text>'
    )
    path = " ".join(f"{px:.1f},{py:.1f}" for px, py in (frame.at(x, y) for x, y, *_ in kept))
    parts.append(f'<polyline points="{path}" fill="none" stroke="#3f51b5" stroke-width="1.2"/>')
    parts.extend(_error_bar(frame, bar) for bar in bars)
    if markers or notes is not None or flagged is not None:
        parts.extend(_marker(frame, x, y, tip, flag) for x, y, _, tip, flag in kept)
    parts.append("</svg>")
    return "".join(parts)


def _frame_svg(frame: _Frame, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">'
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>'
        f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" font-size="13">{escape(title)}</text>'
        f'<rect x="{_LEFT}" y="{_TOP}" width="{frame.width}" height="{frame.height}" '
        'fill="none" stroke="#999"/>'
    )


def _axes_svg(frame: _Frame, *, x_names: Sequence[str] | None, log_y: bool) -> list[str]:
    """The ticks and their labels; a tick's label has one line per line of its name."""
    x_ticks = (
        [(float(i), name) for i, name in enumerate(x_names)]
        if x_names is not None
        else [(value, _number(value)) for value in _ticks(frame.x_low, frame.x_high)]
    )
    y_ticks = (
        [
            (float(d), _decade(d))
            for d in range(math.ceil(frame.y_low), math.floor(frame.y_high) + 1)
        ]
        if log_y
        else [(value, _number(value)) for value in _ticks(frame.y_low, frame.y_high)]
    )
    bottom = _TOP + frame.height
    parts = []
    for value, name in x_ticks:
        px, _ = frame.at(value, frame.y_low)
        lines = "".join(
            f'<tspan x="{px:.1f}" dy="{0 if i == 0 else 12}">{escape(line)}</tspan>'
            for i, line in enumerate(name.split("\n"))
        )
        parts.append(
            f'<line x1="{px:.1f}" y1="{bottom}" x2="{px:.1f}" y2="{bottom + 4}" stroke="#999"/>'
            f'<text x="{px:.1f}" y="{bottom + 16}" text-anchor="middle">{lines}</text>'
        )
    for value, name in y_ticks:
        _, py = frame.at(frame.x_low, value)
        parts.append(
            f'<line x1="{_LEFT - 4}" y1="{py:.1f}" x2="{_LEFT + frame.width}" y2="{py:.1f}" '
            'stroke="#eee"/>'
            f'<text x="{_LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">{escape(name)}</text>'
        )
    return parts


def _error_bar(frame: _Frame, bar: tuple[float, float, float]) -> str:
    x, low, high = bar
    px, top = frame.at(x, high)
    _, bottom = frame.at(x, low)
    return (
        f'<path d="M{px - 4:.1f},{top:.1f}h8M{px:.1f},{top:.1f}V{bottom:.1f}'
        f'M{px - 4:.1f},{bottom:.1f}h8" stroke="#3f51b5" fill="none" class="error-bar"/>'
    )


def _marker(frame: _Frame, x: float, y: float, tip: str, flag: bool) -> str:
    px, py = frame.at(x, y)
    title = f"<title>{escape(tip)}</title>" if tip else ""
    if flag:
        return (
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="6" fill="none" stroke="#d32f2f" '
            f'stroke-width="2" class="flagged">{title}</circle>'
        )
    return f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="#3f51b5">{title}</circle>'


def _bar(x: float, y: float, half: float, log_y: bool) -> tuple[float, float, float]:
    """An error bar's x and its ends (on a log axis, in decades; a low end at or below
    zero is drawn a decade below the point)."""
    if not log_y:
        return x, y - half, y + half
    low = math.log10(y - half) if y - half > 0 else math.log10(y) - 1
    return x, low, math.log10(y + half)


def _span(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if high == low:
        pad = abs(low) * 0.1 or 1.0
        # near the largest float the pad would overflow: the axis ends there
        return max(low - pad, -_LARGEST), min(high + pad, _LARGEST)
    return low, high


def _fraction(value: float, low: float, high: float) -> float:
    """Where ``value`` lies from ``low`` (0) to ``high`` (1), for any finite floats."""
    span = high - low
    if math.isfinite(span):
        return (value - low) / span
    # from -1.7e308 to 1.7e308 the span overflows; halved, nothing does
    return (value / 2 - low / 2) / (high / 2 - low / 2)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = high - low
    raw = span / count if math.isfinite(span) else (high / 2 - low / 2) / count * 2
    if not raw > 0 or not math.isfinite(raw):  # a span too small for steps (subnormal floats)
        return [low, high]
    magnitude = 10.0 ** math.floor(math.log10(raw))
    if magnitude == 0:
        return [low, high]
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    limit = min(high + step * 1e-9, _LARGEST)  # past the largest float: inf, never a tick
    return [first + i * step for i in range(count + 2) if first + i * step <= limit]


def _decade(power: int) -> str:
    """The label of the tick at 10**power (past the floats' range too: the axis may pad)."""
    return _number(10.0**power) if abs(power) < 300 else f"1e{power:+03d}"


def _number(value: float) -> str:
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.6g}"
