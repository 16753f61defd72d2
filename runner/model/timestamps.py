"""Times as radiops writes and reads them: RFC 3339 in UTC with a Z.

The manifest's schema asks for that form; Docker gives the same with
nanoseconds, and "0001-01-01T00:00:00Z" for a time that never came.
"""

from __future__ import annotations

from datetime import UTC, datetime


def timestamp(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with milliseconds and a Z, as the manifest's schema asks."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC) if moment.tzinfo else moment
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> datetime | None:
    """An RFC 3339 UTC time with a Z and any fraction of a second (Docker's has
    nanoseconds); None for Docker's zero time or what is not such a time."""
    if not text or text.startswith("0001-") or not text.endswith("Z"):
        return None
    head, _, fraction = text[:-1].partition(".")
    if not fraction.isdigit() and fraction:
        return None
    try:
        moment = datetime.fromisoformat(f"{head}.{(fraction + '000000')[:6]}")
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else None


def docker_time(text: str | None) -> str | None:
    """Docker's time in the manifest's form, or None when it never came."""
    return timestamp(parse_timestamp(text or ""))
