"""Small arithmetic shared by the benchmarks."""
from __future__ import annotations

import statistics
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
