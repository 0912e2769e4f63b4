"""Statistics the evaluations share, from scipy: confidence intervals for accuracies and for means
over seeds, the paired test of two selectors, and the AUROC of a score."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (scipy's): unlike the normal approximation
    it stays inside [0, 1] and behaves at 0% and 100%, which small evaluation sets hit."""
    ci = stats.binomtest(successes, n).proportion_ci(confidence, method="wilson")
    return float(ci.low), float(ci.high)


def seed_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean over seeds (runs are the samples: the spread between seeds,
    not the test-set size, is what a comparison of training recipes has to beat)."""
    if len(values) < 2:
        raise ValueError(f"seed_interval: needs at least 2 values, got {len(values)}")
    mean, sem = sum(values) / len(values), stats.sem(values)
    half = sem * stats.t.ppf((1 + confidence) / 2, len(values) - 1)
    return float(mean - half), float(mean + half)


def paired_sign_test(a: Sequence[bool], b: Sequence[bool]) -> tuple[int, int, float]:
    """Items only ``a`` gets right, only ``b`` gets right, and the exact two-sided p-value of that
    split under "neither is better" (McNemar's exact test): what a paired comparison of two
    selectors on the same particles needs, since their confidence intervals overlap heavily."""
    if len(a) != len(b):
        raise ValueError(f"paired_sign_test: {len(a)} vs {len(b)} outcomes")
    wins = sum(x and not y for x, y in zip(a, b))
    losses = sum(y and not x for x, y in zip(a, b))
    p = stats.binomtest(wins, wins + losses, 0.5).pvalue if wins + losses else 1.0
    return wins, losses, float(p)


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve of ``scores`` for ``labels``: the Mann-Whitney U of the positives'
    scores over n_pos x n_neg (ties count half); NaN when only one class is present."""
    s, y = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    if len(s) != len(y):
        raise ValueError(f"auroc: {len(s)} scores but {len(y)} labels")
    if y.all() or not y.any():
        return float("nan")
    u = stats.mannwhitneyu(s[y], s[~y], method="asymptotic").statistic  # the statistic; no p-value needed
    return float(u / (y.sum() * (~y).sum()))
