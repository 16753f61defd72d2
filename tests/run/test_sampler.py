"""The statistics sampler never holds a run back, and drops what arrives after the run."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any, cast

from runner.engine.execute import Placed, Sampler
from runner.model.plan import Instance

STATS = {"cpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000}}, "pids_stats": {"current": 3}}


class SlowStats:
    """A container whose one-shot statistics take ``seconds`` (engines answer at their next
    collection, up to half a second later); ``asked`` is set when a request is in flight."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.asked = threading.Event()

    def stats(self, **_: Any) -> dict[str, Any]:
        self.asked.set()
        time.sleep(self.seconds)
        return STATS


def placed(container: SlowStats) -> list[Placed]:
    return [
        cast(Placed, SimpleNamespace(container=container, instance=Instance(role="main", index=0)))
    ]


def test_the_end_of_a_run_does_not_wait_for_a_request_in_flight() -> None:
    container = SlowStats(3.0)
    sampler = Sampler(placed(container), interval_s=0.01)
    with sampler:
        assert container.asked.wait(5)
        start = time.monotonic()
    assert time.monotonic() - start < 0.5  # not the 3 s the request takes
    time.sleep(3.5)  # the late answer arrives: it is dropped, the record stays as it was
    assert sampler.usage == {}


def test_samples_taken_while_the_run_lasts_are_kept() -> None:
    container = SlowStats(0.0)
    with Sampler(placed(container), interval_s=0.01) as sampler:
        time.sleep(0.2)
    (usage,) = sampler.usage.values()
    assert usage.cpu_seconds == 2.0 and usage.pids_peak == 3
