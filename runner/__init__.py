"""radiops: run software-defined-radio experiments from a git repository."""

from __future__ import annotations

__version__ = "0.1.0"
