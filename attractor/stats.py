"""Confidence intervals for accuracies and for means over seeds."""
from __future__ import annotations

import math
from collections.abc import Sequence

from scipy import stats


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion: unlike the normal approximation it stays
    inside [0, 1] and behaves at 0% and 100%, which small evaluation sets hit."""
    if n <= 0:
        raise ValueError(f"wilson_interval: n must be positive, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"wilson_interval: successes must be in [0, {n}], got {successes}")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def seed_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean over seeds (runs are the samples: the spread between seeds,
    not the test-set size, is what a comparison of training recipes has to beat)."""
    if len(values) < 2:
        raise ValueError(f"seed_interval: needs at least 2 values, got {len(values)}")
    mean, sem = sum(values) / len(values), stats.sem(values)
    half = sem * stats.t.ppf((1 + confidence) / 2, len(values) - 1)
    return float(mean - half), float(mean + half)
