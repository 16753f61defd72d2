"""One way to write and read times: the manifest's form, Docker's, the probe cache's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from runner.model.timestamps import docker_time, parse_timestamp, timestamp


def test_dockers_nanoseconds_become_the_manifests_milliseconds() -> None:
    assert docker_time("2026-12-03T23:31:00.123456789Z") == "2026-12-03T23:31:00.123Z"
    assert docker_time("2026-12-03T23:31:00Z") == "2026-12-03T23:31:00.000Z"
    assert docker_time("0001-01-01T00:00:00Z") is None  # Docker's "never"
    assert docker_time(None) is None and docker_time("") is None


@pytest.mark.parametrize(
    "text",
    ["2026-12-03T23:31:00.12x4Z", "2026-12-03T23:31:00+02:00", "yesterday", "2026-13-01T00:00:00Z"],
)
def test_what_is_not_a_utc_time_is_none(text: str) -> None:
    assert parse_timestamp(text) is None


def test_a_time_written_is_read_back_to_the_millisecond() -> None:
    moment = datetime(2026, 12, 3, 23, 31, 0, 123999, tzinfo=UTC)
    assert parse_timestamp(timestamp(moment) or "") == moment.replace(microsecond=123000)
    # an aware time elsewhere is written in UTC
    paris = moment.astimezone(timezone(timedelta(hours=1)))
    assert timestamp(paris) == "2026-12-03T23:31:00.123Z"
