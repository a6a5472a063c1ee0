"""Results over seeds: mean ± spread, and whether a difference is larger than the seed-to-seed noise.

The book's rule (chapter 6, "Reading it honestly"): a difference between two settings, each run with several seeds,
is called *larger than the seed spread* only if the two ranges of runs do not overlap **and** Welch's t-test
(``scipy.stats.ttest_ind(..., equal_var=False)``, which does not assume equal spreads) gives p < 0.05. With three
seeds a side that is a lead, not a proof; the functions here only do the counting the same way everywhere.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Spread:
    """Summary of one quantity measured once per seed."""

    values: tuple[float, ...]  # one per seed, in the order given
    mean: float
    sd: float  # sample standard deviation (ddof=1); nan for a single value
    min: float
    max: float

    @property
    def n(self) -> int:
        return len(self.values)

    def format(self, digits: int = 2, scale: float = 1.0) -> str:
        """``"22.44 ± 0.52 (n=3)"``; ``scale=100`` shows fractions as percentages."""
        sd = "n/a" if math.isnan(self.sd) else f"{scale * self.sd:.{digits}f}"
        return f"{scale * self.mean:.{digits}f} ± {sd} (n={self.n})"

    def __str__(self) -> str:
        return self.format()


def spread(values: Iterable[float]) -> Spread:
    """Mean, sample standard deviation, minimum and maximum of ``values`` (at least one finite number)."""
    v = tuple(float(x) for x in values)
    if not v or not all(math.isfinite(x) for x in v):
        raise ValueError(f"spread needs at least one value, all finite, got {v!r}")
    mean = sum(v) / len(v)
    sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else math.nan
    return Spread(v, mean, sd, min(v), max(v))


@dataclass(frozen=True)
class Comparison:
    """Setting ``b`` against baseline ``a``, each over seeds."""

    a: Spread
    b: Spread
    difference: float  # mean(b) - mean(a)
    ranges_apart: bool  # no run of one lies within the range of the other's runs
    p_welch: float  # two-sided Welch's t-test of the means
    alpha: float  # the significance level used for `beyond_noise`

    @property
    def beyond_noise(self) -> bool:
        """True when the ranges are apart and p < alpha, the book's rule for a difference beyond the seed spread."""
        return self.ranges_apart and self.p_welch < self.alpha


def compare(a: Sequence[float], b: Sequence[float], alpha: float = 0.05) -> Comparison:
    """Compare the per-seed results ``b`` with the baseline's ``a`` (at least two seeds each).

    Returns:
        A :class:`Comparison`; ``.beyond_noise`` says whether the difference is larger than the seed spread.
    """
    from scipy import stats

    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    sa, sb = spread(a), spread(b)
    if sa.n < 2 or sb.n < 2:
        raise ValueError(f"compare needs at least 2 seeds on each side, got {sa.n} and {sb.n}")
    apart = sb.max < sa.min or sb.min > sa.max
    if sa.sd == 0 and sb.sd == 0:            # no spread at all: the t statistic is undefined
        p = 1.0 if sa.mean == sb.mean else 0.0
    else:
        p = float(stats.ttest_ind(sb.values, sa.values, equal_var=False).pvalue)
    return Comparison(sa, sb, sb.mean - sa.mean, apart, p, alpha)


def over_seeds(run: Callable[[int], Any], seeds: Sequence[int]) -> dict[int, Any]:
    """``{seed: run(seed)}`` for each seed, in order (``run`` trains and returns what to keep, e.g. a History)."""
    seeds = list(seeds)
    if not seeds or len(set(seeds)) != len(seeds) or not all(isinstance(s, int) and not isinstance(s, bool)
                                                             for s in seeds):
        raise ValueError(f"seeds must be distinct ints (at least one), got {seeds!r}")
    return {s: run(s) for s in seeds}
