"""Figures of a scaling run: accuracy vs function evaluations, accuracy vs residual, energy histograms."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from attractor.plotting import save_figure
from attractor.stats import wilson_interval


def plot_equal_compute(depth_rows: Sequence[Mapping[str, Any]], breadth_rows: Sequence[Mapping[str, Any]],
                       methods: Sequence[str], path: Path, title: str) -> None:
    """Accuracy against mean evaluations of f per puzzle: one trajectory made deeper (the depth
    sweep) against K trajectories at each breadth depth, one line per (method, depth) over K."""
    with save_figure(path, figsize=(9, 5)) as (fig, ax):
        ax.plot([r["fevals"] for r in depth_rows], [r["accuracy"] for r in depth_rows], "k-o", lw=2,
                label="one trajectory, deeper")
        for depth in dict.fromkeys(r["depth"] for r in breadth_rows):
            for method in methods:
                rows = sorted((r for r in breadth_rows if r["depth"] == depth and r["method"] == method),
                              key=lambda r: r["fevals"])
                if rows:
                    style = ":" if rows[0]["upper_bound"] else "-"
                    ax.plot([r["fevals"] for r in rows], [r["accuracy"] for r in rows], style, marker=".",
                            label=f"{method} @ {depth}" + (" (upper bound)" if rows[0]["upper_bound"] else ""))
        ax.set_xscale("log")
        ax.set(xlabel="evaluations of f per puzzle (K x iterations)", ylabel="exact accuracy", title=title)
        ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5))


def plot_accuracy_vs_residual(residuals: torch.Tensor, correct: torch.Tensor, path: Path, bins: int = 12) -> None:
    """Exact accuracy (Wilson 95% bars) in bins of log10 final relative residual, pooled over the
    depth sweep: the convergence diagnostic (is a small residual a sign of a right answer?)."""
    logr = residuals.double().clamp(min=1e-30).log10()
    edges = torch.linspace(float(logr.min()), float(logr.max()) + 1e-9, bins + 1)
    xs, ys, lo, hi = [], [], [], []
    for a, b in zip(edges[:-1], edges[1:]):
        inside = (logr >= a) & (logr < b)
        n = int(inside.sum())
        if n:
            right = int(correct[inside].sum())
            ci = wilson_interval(right, n)
            xs.append(float((a + b) / 2))
            ys.append(right / n)
            lo.append(max(0.0, right / n - ci[0]))  # the interval's rounding can put p a hair outside
            hi.append(max(0.0, ci[1] - right / n))
    with save_figure(path) as (fig, ax):
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o-", capsize=3)
        ax.set(xlabel="log10 final relative residual", ylabel="exact accuracy",
               title="Accuracy vs residual reached (all depths pooled)")
