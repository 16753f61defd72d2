"""A sweep's overall progress: how many runs are done and about how long the rest take."""

from __future__ import annotations

from runner.model.report import progress_line


def test_the_time_left_follows_the_pace_of_the_runs_done() -> None:
    assert progress_line("ber", 2, 6, 70.0) == "ber: 2 of 6 runs done in 1m10s, about 2m20s left"
    assert progress_line("ber", 5, 6, 50.0) == "ber: 5 of 6 runs done in 50s, about 10s left"


def test_a_finished_sweep_says_how_long_it_took_and_nothing_left() -> None:
    assert progress_line("ber", 6, 6, 200.0) == "ber: 6 of 6 runs done in 3m20s"


def test_times_are_whole_seconds_as_a_clock_measures_them() -> None:
    assert progress_line("ber", 2, 6, 25.1066) == "ber: 2 of 6 runs done in 25s, about 50s left"
