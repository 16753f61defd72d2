"""Statistics of repeated runs: values, intervals and the t table, against known values."""

from __future__ import annotations

import itertools
import math

import pytest

from runner.model.stats import T_975, mean, sample_sd, summarize, t_975, welch_difference


def test_known_t_quantiles() -> None:
    assert t_975(4) == pytest.approx(2.776, abs=5e-4)
    assert t_975(9) == pytest.approx(2.262, abs=5e-4)
    assert t_975(1) == pytest.approx(12.706, abs=5e-4)
    assert t_975(30) == pytest.approx(2.042, abs=5e-4)
    assert t_975(60) == pytest.approx(2.0003, abs=2e-4)
    assert t_975(120) == pytest.approx(1.9799, abs=2e-4)
    assert t_975(math.inf) == pytest.approx(1.95996, abs=1e-5)
    assert t_975(4.9) == t_975(4)  # a fractional df rounds down: wider, never narrower


def _t_cdf(x: float, df: int) -> float:
    """Student's t distribution function by Simpson's rule on its density (independent of
    the table)."""
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    steps = 20000
    h = x / steps
    total = 0.0
    for i in range(steps + 1):
        t = i * h
        weight = 1 if i in (0, steps) else (4 if i % 2 else 2)
        total += weight * c * (1 + t * t / df) ** (-(df + 1) / 2)
    return 0.5 + total * h / 3


@pytest.mark.parametrize("df", [*range(1, 31), 31, 40, 50, 100, 1000])
def test_every_quantile_leaves_2_5_percent_in_the_tail(df: int) -> None:
    assert _t_cdf(t_975(df), df) == pytest.approx(0.975, abs=2e-5)


def test_the_table_decreases_towards_the_normal_value() -> None:
    assert all(a > b for a, b in itertools.pairwise(T_975))
    assert t_975(31) < t_975(30)


def test_mean_sd_and_interval() -> None:
    values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
    assert mean(values) == 5.0
    assert sample_sd(values) == pytest.approx(math.sqrt(32 / 7))
    summary = summarize(values)
    assert summary.n == 8
    assert summary.half_width == pytest.approx(2.3646 * math.sqrt(32 / 7) / math.sqrt(8))


def test_five_values() -> None:
    summary = summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert summary.mean == 3.0 and summary.sd == pytest.approx(math.sqrt(2.5))
    assert summary.half_width == pytest.approx(2.7764 * math.sqrt(2.5) / math.sqrt(5))


def test_a_single_value_has_no_interval() -> None:
    summary = summarize([0.25])
    assert (summary.n, summary.mean, summary.sd, summary.half_width) == (1, 0.25, None, None)


def test_welch_interval_with_unequal_variances() -> None:
    a = [10.0, 11.0, 12.0, 13.0, 14.0]  # variance 2.5
    b = [20.0, 22.0, 24.0, 26.0, 28.0, 30.0, 32.0]  # variance 18.667
    d = welch_difference(a, b)
    va, vb = 2.5 / 5, (112 / 6) / 7
    df = (va + vb) ** 2 / (va**2 / 4 + vb**2 / 6)
    assert d.difference == pytest.approx(14.0)
    assert d.df == pytest.approx(df)  # about 8.04: the table row 8
    assert d.half_width == pytest.approx(2.3060 * math.sqrt(va + vb))


def test_identical_constant_samples_give_a_zero_width_interval() -> None:
    d = welch_difference([1.0, 1.0, 1.0], [1.5, 1.5])
    assert (d.difference, d.half_width, d.df) == (0.5, 0.0, math.inf)


@pytest.mark.parametrize(
    "values", [[], [1.0, math.nan], [math.inf, 1.0]], ids=["empty", "nan", "inf"]
)
def test_nonsense_samples_are_refused(values: list[float]) -> None:
    with pytest.raises(ValueError):
        summarize(values)


def test_too_few_degrees_of_freedom_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        t_975(0.5)
    with pytest.raises(ValueError, match="two values on each side"):
        welch_difference([1.0], [1.0, 2.0])
