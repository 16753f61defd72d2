"""Statistics of repeated runs: mean, spread, 95% confidence intervals, Welch's interval.

Plain Python (no numpy, no scipy): ``model/`` imports nothing heavy and the
samples are small (the N runs of one matrix point). Student's t quantile for a
two-sided 95% interval comes from a table for 1 to 30 degrees of freedom and
from a Cornish-Fisher expansion beyond (within 1e-4 of the exact value there).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

LEVEL = 0.95  # every interval here is a two-sided 95% interval
Z_975 = 1.959963984540054  # the normal quantile at 0.975
# Student's t quantile at 0.975 by degrees of freedom (1..30)
T_975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Summary:
    """A sample: its size, mean, sample standard deviation and the 95% CI's half-width."""

    n: int
    mean: float
    sd: float | None  # None: a single value has no spread
    half_width: float | None  # None: n = 1

    @property
    def low(self) -> float:
        return self.mean - (self.half_width or 0.0)

    @property
    def high(self) -> float:
        return self.mean + (self.half_width or 0.0)


@dataclass(frozen=True, kw_only=True)
class Difference:
    """``mean(b) - mean(a)`` with its 95% Welch interval (Welch-Satterthwaite df)."""

    difference: float
    half_width: float
    df: float  # math.inf when neither sample varies

    @property
    def low(self) -> float:
        return self.difference - self.half_width

    @property
    def high(self) -> float:
        return self.difference + self.half_width


def t_975(df: float) -> float:
    """Student's t quantile at 0.975 for ``df`` degrees of freedom (df ≥ 1).

    A fractional df (Welch's) is rounded down within the table: the interval
    is then a little wider, never narrower, than the exact one.
    """
    if not df >= 1:
        raise ValueError(f"degrees of freedom must be at least 1, not {df}")
    if df <= len(T_975):
        return T_975[int(df) - 1]
    if math.isinf(df):
        return Z_975
    z = Z_975
    terms = (
        (z**3 + z) / 4,
        (5 * z**5 + 16 * z**3 + 3 * z) / 96,
        (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
        (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160,
    )
    return z + sum(term / df ** (i + 1) for i, term in enumerate(terms))


def mean(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("the mean of no values")
    return math.fsum(values) / len(values)


def sample_sd(values: Sequence[float]) -> float:
    """The sample standard deviation (n - 1 in the denominator); needs two values."""
    if len(values) < 2:
        raise ValueError("a standard deviation needs at least two values")
    centre = mean(values)
    return math.sqrt(math.fsum((v - centre) ** 2 for v in values) / (len(values) - 1))


def summarize(values: Sequence[float]) -> Summary:
    """Mean, spread and the 95% confidence interval of the mean (Student's t)."""
    finite = _finite(values)
    if len(finite) == 1:
        return Summary(n=1, mean=finite[0], sd=None, half_width=None)
    sd = sample_sd(finite)
    half = t_975(len(finite) - 1) * sd / math.sqrt(len(finite))
    return Summary(n=len(finite), mean=mean(finite), sd=sd, half_width=half)


def welch_difference(a: Sequence[float], b: Sequence[float]) -> Difference:
    """The 95% confidence interval of ``mean(b) - mean(a)`` without assuming equal variances."""
    first, second = _finite(a), _finite(b)
    if len(first) < 2 or len(second) < 2:
        raise ValueError("Welch's interval needs at least two values on each side")
    va = sample_sd(first) ** 2 / len(first)
    vb = sample_sd(second) ** 2 / len(second)
    difference = mean(second) - mean(first)
    if va + vb == 0:
        return Difference(difference=difference, half_width=0.0, df=math.inf)
    df = (va + vb) ** 2 / (va**2 / (len(first) - 1) + vb**2 / (len(second) - 1))
    return Difference(
        difference=difference, half_width=t_975(max(df, 1.0)) * math.sqrt(va + vb), df=df
    )


def _finite(values: Sequence[float]) -> list[float]:
    result = [float(v) for v in values]
    if not result:
        raise ValueError("no values")
    if not all(math.isfinite(v) for v in result):
        raise ValueError("values must be finite numbers (no NaN or infinity)")
    return result
