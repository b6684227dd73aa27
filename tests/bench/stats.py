"""Small arithmetic shared by the benchmarks."""
from __future__ import annotations

import statistics
from math import comb
from typing import Optional, Sequence

MIB = 1024 * 1024


def median(values: Sequence[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def ratio(numerator: Optional[float], denominator: Optional[float]) -> Optional[float]:
    """numerator / denominator, or None when either side was not measured."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def mib(n_bytes: float) -> float:
    return n_bytes / MIB


NO_DIFFERENCE = "no measurable difference"


def median_interval(values: Sequence[float], confidence: float = 0.95) -> Optional[tuple[float, float]]:
    """The confidence interval of the median of ``values``, free of any assumption about their
    distribution (the sign test's): the k-th smallest and the k-th largest value, k the most for
    which fewer than k of n values fall below the median with probability at most (1 - confidence)
    / 2. None for too few values to give one (five or fewer at 95%)."""
    n, alpha = len(values), (1 - confidence) / 2
    k, below = 0, 0.0  # below: P(Binomial(n, 1/2) < k)
    while n and below + comb(n, k) / 2**n <= alpha:
        below += comb(n, k) / 2**n
        k += 1
    if k == 0:
        return None
    ordered = sorted(values)
    return ordered[k - 1], ordered[n - k]


def difference(median_value: Optional[float], interval: Optional[Sequence[float]], digits: int = 1) -> str:
    """A median of paired differences as a report prints it: NO_DIFFERENCE when its 95% interval
    (median_interval) holds 0, so that the pairs' own noise covers it, else the median; the
    interval either way."""
    if median_value is None:
        return "-"
    if interval is None:
        return f"{median_value:.{digits}f} (too few pairs to tell)"
    low, high = interval
    figure = NO_DIFFERENCE if low <= 0 <= high else f"{median_value:.{digits}f}"
    return f"{figure} (95% CI {low:.{digits}f} to {high:.{digits}f})"
