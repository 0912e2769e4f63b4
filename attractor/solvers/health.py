"""Solve health: did the solve reach its fixed point? Fractions and quantiles over solver rows.

A model whose solve stops at its iteration cap is a truncated unroll, not an attractor: its
implicit gradient is taken at a point that is not a fixed point and its depth cannot adapt. These
figures say how far from that a run is. A solver row is one fixed-point problem: a sample for the
bidirectional puzzle models, a (sample, position) for causal models.

- ``converged_frac``: rows whose residual met the tolerance within the budget;
- ``diverged_frac``: rows whose solve blew up: non-finite, or a relative residual above
  ``DIVERGED_REL`` (the iterate is farther from f(z) than f(z) is from zero: near no fixed point);
- ``residual_p50/p90/max``: the residual the tolerance is compared with (the stop mode's);
- ``iterations_mean/max``: evaluations of f per row.
"""
from __future__ import annotations

import torch

from attractor.solvers.config import SolverConfig

DIVERGED_REL = 1.0
FIELDS = ("converged_frac", "diverged_frac", "residual_p50", "residual_p90", "residual_max", "iterations_mean",
          "iterations_max")
Rows = dict[str, torch.Tensor]


def solve_rows(stats: dict[str, torch.Tensor], cfg: SolverConfig) -> Rows:
    """Per-row figures of one solve, from its statistics (``solve``'s ``Equilibrium.stats``), detached."""
    residual = stats["rel_residual" if cfg.stop_mode == "rel" else "abs_residual"].detach().float()
    blown = stats["diverged"] | ~torch.isfinite(stats["rel_residual"]) | (stats["rel_residual"] > DIVERGED_REL)
    return {"residual": residual, "iterations": stats["iterations"].detach(), "converged": stats["converged"].detach(),
            "diverged": blown.detach()}


def concat_rows(parts: list[Rows]) -> Rows | None:
    """The rows of several solves (segments, cycles, batches) as one set; None for none."""
    parts = [p for p in parts if p]
    if not parts:
        return None
    return {k: torch.cat([p[k].reshape(-1) for p in parts]) for k in parts[0]}


def summarise_health(rows: Rows) -> dict[str, torch.Tensor]:
    """The ``FIELDS`` over a set of rows, as 0-d tensors (no host sync until they are read). A NaN
    residual counts as infinite, so it lands in the maximum and the upper quantiles
    (nearest-rank quantiles: exact at any size)."""
    ranked = rows["residual"].float().nan_to_num(nan=float("inf")).sort().values
    last = ranked.numel() - 1
    iterations = rows["iterations"].float()
    return {"converged_frac": rows["converged"].float().mean(), "diverged_frac": rows["diverged"].float().mean(),
            "residual_p50": ranked[round(0.5 * last)], "residual_p90": ranked[round(0.9 * last)],
            "residual_max": ranked[last],
            "iterations_mean": iterations.mean(), "iterations_max": iterations.max()}


class HealthTally:
    """Rows gathered over many batches (a validation epoch, an evaluation), summarised at the end."""

    def __init__(self) -> None:
        self.parts: list[Rows] = []

    def add(self, rows: Rows | None) -> None:
        if rows:
            self.parts.append({k: v.detach().cpu() for k, v in rows.items()})

    def summary(self) -> dict[str, float] | None:
        """The ``FIELDS`` as floats, plus the number of rows; None when no solve ran."""
        rows = concat_rows(self.parts)
        if rows is None:
            return None
        return {**{k: float(v) for k, v in summarise_health(rows).items()}, "rows": int(rows["residual"].numel())}
