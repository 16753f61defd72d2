"""Whether a value is allowed for a declared parameter: its type, range, choices and size."""

from __future__ import annotations

import math

MAX_VALUE_BYTES = 64 * 1024  # a parameter's text, in bytes


def type_problems(declared: object, value: object) -> list[str]:
    """Why ``value`` is not of the parameter type ``declared`` (empty when it is)."""
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
    }
    if not isinstance(declared, str) or declared not in ok or ok[declared]:
        return []  # an unknown type (even a list or mapping): the schema reports it
    return [f"{value!r} is not a value of the parameter's type {declared}"]


def value_problems(
    value: object,
    *,
    kind: object,
    minimum: object = None,
    maximum: object = None,
    choices: object = None,
) -> list[str]:
    """Why ``value`` is not allowed for a parameter so declared (empty when it is)."""
    problems = type_problems(kind, value)
    if problems:
        return problems
    if isinstance(value, str) and len(value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
        # it travels in an environment variable, which Linux caps at 128 KiB
        return [
            f"a value of {len(value.encode('utf-8', 'surrogatepass'))} bytes is longer than the "
            f"{MAX_VALUE_BYTES} a parameter may carry; put bigger data in an input file"
        ]
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            return [f"{value} is not a finite number"]
        if isinstance(minimum, int | float) and value < minimum:
            problems.append(f"{value} is below the parameter's minimum {minimum}")
        if isinstance(maximum, int | float) and value > maximum:
            problems.append(f"{value} is above the parameter's maximum {maximum}")
    if isinstance(choices, list | tuple) and choices and value not in choices:
        problems.append(f"{value!r} is not one of the parameter's choices {list(choices)}")
    return problems
