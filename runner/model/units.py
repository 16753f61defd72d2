"""Durations and sizes as scenario authors write them (``90s``, ``512M``), and numbers as
files from containers give them."""

from __future__ import annotations

import math
import re

_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([KMG])i?B?$")
_SIZE_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_duration(value: float | int | str) -> float:
    """Seconds from a number of seconds or a string such as ``5m``; ValueError if neither."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:  # an integer with hundreds of digits
            return math.inf
    match = _DURATION.match(value.strip())
    if not match:
        raise ValueError(f"not a duration: {value!r}")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def finite_number(value: object) -> float | None:
    """``value`` as a finite float when it is a JSON number that fits one, else None.

    Containers write hostile JSON: ``True`` is no number, and an integer of hundreds of
    digits is one no float holds (``float()`` raises OverflowError on it).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def parse_size(value: int | str) -> int:
    """Bytes from an integer or a string such as ``512M``; ValueError if neither."""
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int):
        return value
    match = _SIZE.match(value.strip())
    if not match:
        raise ValueError(f"not a size: {value!r}")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


def format_duration(seconds: float) -> str:
    """``90.0`` -> ``1m30s``: for messages."""
    if not math.isfinite(seconds):
        return "forever"
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs else "")
