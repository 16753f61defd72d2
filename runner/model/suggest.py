"""The one "did you mean" used by every message."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: object, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word`` (case-insensitively), or None."""
    if not isinstance(word, str):
        return None
    lowered = {c.lower(): c for c in candidates}
    if word.lower() in lowered:
        return lowered[word.lower()]
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[found[0]] if found else None


def hint(word: object, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` or nothing."""
    guess = did_you_mean(word, candidates)
    return f" (did you mean '{guess}'?)" if guess else ""
