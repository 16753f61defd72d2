"""Container resource limits: what a role asks for and what a node allows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.model.units import parse_size

CAPTURE_MAX_BYTES = 4 << 30
"""Default of the most bytes of files kept from one container (``artifacts.capture_max``)."""


@dataclass(frozen=True, kw_only=True)
class Limits:
    """CPU cores, memory (swap is never granted on top) and processes; None = no limit."""

    cpus: float | None = None
    memory_bytes: int | None = None
    pids: int | None = None


def limits_from(spec: Mapping[str, Any]) -> Limits:
    """Limits from a schema-valid ``resources`` (scenario) or ``limits`` (inventory) mapping."""
    memory = spec.get("memory")
    return Limits(
        cpus=spec.get("cpus"),
        memory_bytes=parse_size(memory) if memory is not None else None,
        pids=spec.get("pids"),
    )
