"""Line plots as small standalone SVG documents; every text is escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH = 640
HEIGHT = 320
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 28, 44


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
) -> str:
    """An SVG line through (xs[i], ys[i]); ``x_names`` labels categorical x positions.

    ``log_y``: a logarithmic y axis with a tick per decade (points at or below
    zero are left out), for quantities such as error rates.
    """
    points = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(x) and math.isfinite(y)]
    if log_y:
        points = [(x, math.log10(y)) for x, y in points if y > 0]
    if not points:
        raise ValueError("nothing to plot: no finite point")
    x_low, x_high = _span([x for x, _ in points])
    y_low, y_high = _span([y for _, y in points])
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM

    def at(x: float, y: float) -> tuple[float, float]:
        return (
            _LEFT + (x - x_low) / (x_high - x_low) * plot_w,
            _TOP + (1 - (y - y_low) / (y_high - y_low)) * plot_h,
        )

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
        f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" font-size="13">{escape(title)}</text>',
        f'<rect x="{_LEFT}" y="{_TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#999"/>',
    ]
    x_ticks = (
        [(float(i), name) for i, name in enumerate(x_names)]
        if x_names is not None
        else [(value, _number(value)) for value in _ticks(x_low, x_high)]
    )
    for value, name in x_ticks:
        px, _ = at(value, y_low)
        parts.append(
            f'<line x1="{px:.1f}" y1="{_TOP + plot_h}" x2="{px:.1f}" y2="{_TOP + plot_h + 4}" '
            'stroke="#999"/>'
            f'<text x="{px:.1f}" y="{_TOP + plot_h + 16}" text-anchor="middle">'
            f"{escape(name)}</text>"
        )
    y_ticks = (
        [(float(d), _number(10.0**d)) for d in range(math.ceil(y_low), math.floor(y_high) + 1)]
        if log_y
        else [(value, _number(value)) for value in _ticks(y_low, y_high)]
    )
    for value, name in y_ticks:
        _, py = at(x_low, value)
        parts.append(
            f'<line x1="{_LEFT - 4}" y1="{py:.1f}" x2="{_LEFT + plot_w}" y2="{py:.1f}" '
            'stroke="#eee"/>'
            f'<text x="{_LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">{name}</text>'
        )
    parts.append(
        f'<text x="{_LEFT + plot_w / 2}" y="{HEIGHT - 8}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text x="14" y="{_TOP + plot_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {_TOP + plot_h / 2})">{escape(y_label)}</text>'
    )
    path = " ".join(f"{px:.1f},{py:.1f}" for px, py in (at(x, y) for x, y in points))
    parts.append(f'<polyline points="{path}" fill="none" stroke="#3f51b5" stroke-width="1.2"/>')
    if markers:
        parts.extend(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="#3f51b5"/>'
            for px, py in (at(x, y) for x, y in points)
        )
    parts.append("</svg>")
    return "".join(parts)


def _span(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if high == low:
        pad = abs(low) * 0.1 or 1.0
        return low - pad, high + pad
    return low, high


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(count + 2) if first + i * step <= high + step * 1e-9]


def _number(value: float) -> str:
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.6g}"
