"""Scores by reasoning depth: exact accuracy per depth bucket, whether compute tracks depth, plots.

A puzzle's depth comes from its puzzle package (Sudoku: rounds of singles, -1 when singles cannot
finish it, which ranks deeper than every finite depth; maze: shortest-path moves), recomputed
from the test item itself, so any test set, generated or read, can be bucketed.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from attractor.plotting import save_figure
from attractor.stats import wilson_interval

SEARCH = -1  # Sudoku's "needs search": deeper than any depth singles reach


def depth_order(depths: np.ndarray) -> np.ndarray:
    """Depths as ranks of difficulty: -1 (needs search) above every finite depth."""
    depths = np.asarray(depths, np.int64)
    return np.where(depths == SEARCH, depths.max(initial=0) + 1, depths)


def depth_label(depth: int) -> str:
    return "search" if depth == SEARCH else str(depth)


def by_depth(depths: np.ndarray, solved: np.ndarray, iterations: np.ndarray,
             cells: np.ndarray | None = None, converged: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Per depth bucket (easiest first, needs-search last): items, exact accuracy with its Wilson 95%
    interval, mean solver iterations and, when ``solved`` is (items, segments), the exact accuracy
    after each segment count (the last column is the score); with ``cells`` (items, 2: right,
    scored), the cell accuracy, graded where exact accuracy sits at 0; with ``converged`` (items,
    bool), the fraction whose solve met its tolerance."""
    depths, iterations = np.asarray(depths), np.asarray(iterations, float)
    solved = np.asarray(solved, bool).reshape(len(depths), -1)
    rows = []
    for d in sorted(set(depths.tolist()), key=lambda d: math.inf if d == SEARCH else d):
        pick = depths == d
        k, n = int(solved[pick, -1].sum()), int(pick.sum())
        rows.append({"depth": int(d), "n_items": n, "exact_acc": k / n, "exact_ci95": list(wilson_interval(k, n)),
                     "mean_iterations": float(iterations[pick].mean()),
                     "by_segment": [float(a) for a in solved[pick].mean(axis=0)]})
        if cells is not None:
            right, scored = np.asarray(cells)[pick].sum(axis=0)
            rows[-1]["cell_acc"] = float(right / max(scored, 1))
        if converged is not None:
            rows[-1]["converged_frac"] = float(np.asarray(converged, bool)[pick].mean())
    return rows


def iterations_vs_depth(depths: np.ndarray, iterations: np.ndarray) -> dict[str, Any] | None:
    """Spearman correlation between iterations each item used and its depth (does adaptive compute
    track difficulty?); None when either is constant (a fixed-depth model, or one depth)."""
    ranks, iterations = depth_order(depths), np.asarray(iterations, float)
    if np.ptp(iterations) == 0 or np.ptp(ranks) == 0:
        return None
    result = stats.spearmanr(iterations, ranks)
    return {"spearman_rho": float(result.statistic), "p_value": float(result.pvalue), "n_items": int(len(ranks))}


def _bucket_curve(rows: Sequence[Mapping[str, Any]]) -> tuple[list[int], list[float], list[list[float]]]:
    xs, ys = list(range(len(rows))), [r["exact_acc"] for r in rows]
    err = [[max(0.0, y - r["exact_ci95"][0]) for y, r in zip(ys, rows)],
           [max(0.0, r["exact_ci95"][1] - y) for y, r in zip(ys, rows)]]
    return xs, ys, err


def plot_accuracy_by_depth(curves: Mapping[str, Sequence[Mapping[str, Any]]], path: str | os.PathLike, title: str,
                           trained_max: int | None = None) -> None:
    """Exact accuracy (95% interval) per depth bucket, one line per label (a model, or a mode); a
    dashed line after the deepest trained depth when given."""
    with save_figure(path) as (fig, ax):
        labels: list[str] = []
        for name, rows in curves.items():
            xs, ys, err = _bucket_curve(rows)
            ax.errorbar(xs, ys, yerr=err, fmt="o-", capsize=3, label=name)
            if len(rows) > len(labels):
                labels = [depth_label(r["depth"]) for r in rows]
        ax.set_xticks(range(len(labels)), labels)
        if trained_max is not None and str(trained_max) in labels:
            ax.axvline(labels.index(str(trained_max)) + 0.5, ls="--", c="grey", lw=1)
        ax.set(xlabel="depth (rounds of singles)", ylabel="exact accuracy", title=title, ylim=(-0.02, 1.02))
        ax.legend(fontsize=7)


def plot_sweep_by_depth(sweep: Sequence[Mapping[str, Any]], path: str | os.PathLike, title: str) -> None:
    """Exact accuracy against the mode's mean iterations, one line per depth bucket: test-time
    iterations per depth (extrapolation, and overthinking where a line falls again)."""
    with save_figure(path) as (fig, ax):
        depths = [r["depth"] for r in sweep[0]["by_depth"]]
        for i, d in enumerate(depths):  # each bucket's own mean iterations, in increasing order
            xs, ys = zip(*sorted((s["by_depth"][i]["mean_iterations"], s["by_depth"][i]["exact_acc"]) for s in sweep))
            ax.plot(xs, ys, "o-", label=f"depth {depth_label(d)}")
        ax.set(xlabel="mean iterations (mode)", ylabel="exact accuracy", title=title, ylim=(-0.02, 1.02))
        ax.set_xscale("symlog", linthresh=1)
        ax.legend(fontsize=7)


def plot_iterations_by_depth(curves: Mapping[str, Sequence[Mapping[str, Any]]], path: str | os.PathLike,
                             title: str, ylabel: str = "mean iterations") -> None:
    """Mean solver iterations (or ACT segments) per depth bucket, one line per label (adaptive models)."""
    with save_figure(path) as (fig, ax):
        labels: list[str] = []
        for name, rows in curves.items():
            ax.plot(range(len(rows)), [r["mean_iterations"] for r in rows], "o-", label=name)
            if len(rows) > len(labels):
                labels = [depth_label(r["depth"]) for r in rows]
        ax.set_xticks(range(len(labels)), labels)
        ax.set(xlabel="depth (rounds of singles)", ylabel=ylabel, title=title)
        ax.legend(fontsize=7)
