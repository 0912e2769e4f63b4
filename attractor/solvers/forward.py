"""Forward fixed-point solves through torchdeq's solvers, with per-sample statistics.

torchdeq's solvers count and stop differently from one another (Anderson spends two plain steps
before it mixes and returns its starting point if given fewer than three evaluations; Broyden
evaluates once before its loop). ``run_solver`` hides that: its budget is always the number of
evaluations of f. Residuals are recorded by a wrapper around f, so every solver yields the same
trace: one entry per evaluation, ||f(x) - x|| at the point evaluated.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torchdeq.solver import get_solver

from attractor.solvers.config import SolverConfig

Fn = Callable[[torch.Tensor], torch.Tensor]

# Fewest evaluations at which each torchdeq solver does its own thing; below it, plain iteration is
# the same computation (Anderson's first two steps are plain iteration) without the solver's traps.
_MIN_EVALS = {"anderson": 3, "broyden": 2, "fixed_point_iter": 1}
# Evaluations each solver spends beyond its `max_iter` argument.
_EXTRA_EVALS = {"anderson": 0, "broyden": 1, "fixed_point_iter": 0}


class ResidualMonitor:
    """Wraps f and records, per sample, ||f(x) - x|| and its relative form at every evaluation."""

    def __init__(self, f: Fn):
        self.f = f
        self.abs: list[torch.Tensor] = []
        self.rel: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        fx = self.f(x)
        with torch.no_grad():
            diff = (fx - x).flatten(1).norm(dim=1)
            self.abs.append(diff)
            self.rel.append(diff / (fx.flatten(1).norm(dim=1) + 1e-9))
        return fx

    @property
    def evaluations(self) -> int:
        return len(self.abs)

    def trace(self, mode: str) -> torch.Tensor:
        """(B, evaluations) residuals in the given stop mode."""
        return torch.stack(self.abs if mode == "abs" else self.rel, dim=1)


def run_solver(
    name: str,
    f: Fn,
    x0: torch.Tensor,
    budget: int,
    tol: float,
    stop_mode: str,
    cfg: SolverConfig,
    return_final: bool = False,
) -> torch.Tensor:
    """Run torchdeq solver `name` for at most `budget` evaluations of f; returns its estimate."""
    if budget < _MIN_EVALS[name]:
        name = "fixed_point_iter"
    solver = get_solver(name)
    z, _, _ = solver(
        f,
        x0,
        max_iter=budget - _EXTRA_EVALS[name],
        tol=tol,
        stop_mode=stop_mode,
        m=cfg.anderson_m,
        lam=cfg.anderson_lam,
        tau=cfg.tau,
        return_final=return_final,
    )
    return z


def run_with_fallback(name: str, make_f: Callable[[], Fn], x0: torch.Tensor, budget: int, tol: float,
                      stop_mode: str, cfg: SolverConfig, return_final: bool = False) -> torch.Tensor:
    """``run_solver``, falling back to plain iteration when Anderson's or Broyden's least squares go
    singular (a LinAlgError or non-finite iterates). ``make_f`` gives a fresh f for each attempt, so
    a residual monitor only records the attempt that produced the answer."""
    try:
        z = run_solver(name, make_f(), x0, budget, tol, stop_mode, cfg, return_final)
        if torch.isfinite(z).all() or name == "fixed_point_iter":
            return z
    except torch.linalg.LinAlgError:
        if name == "fixed_point_iter":
            raise
    return run_solver("fixed_point_iter", make_f(), x0, budget, tol, stop_mode, cfg, return_final)


def summarise(
    monitor: ResidualMonitor, cfg: SolverConfig, adaptive: bool, return_trace: bool, final_abs: torch.Tensor,
    final_rel: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Per-sample statistics: iterations used, final residuals, converged flag, optional trace."""
    trace = monitor.trace(cfg.stop_mode)
    n = monitor.evaluations
    if adaptive:
        below = trace < cfg.tol
        first = torch.where(below.any(dim=1), below.float().argmax(dim=1) + 1, torch.full_like(below[:, 0], n, dtype=torch.long))
        iterations = first.long()
    else:
        iterations = torch.full((trace.shape[0],), n, dtype=torch.long, device=trace.device)
    final = final_abs if cfg.stop_mode == "abs" else final_rel
    stats = {
        "iterations": iterations,
        "abs_residual": final_abs,
        "rel_residual": final_rel,
        "converged": final <= cfg.tol,
    }
    if return_trace:
        stats["residual_trace"] = trace
    return stats


@torch.no_grad()
def forward_solve(
    f: Fn, z0: torch.Tensor, cfg: SolverConfig, budget: int, adaptive: bool, return_trace: bool = False
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Solve z = f(z) from z0 without gradients, in at most ``budget`` evaluations of f.

    Adaptive: stop once every sample's residual is below ``cfg.tol``; each sample gets its
    lowest-residual estimate. Otherwise: exactly ``budget`` evaluations, returning the last iterate.
    """
    if budget < 1:
        raise ValueError(f"a solve needs at least one iteration, got {budget}")
    monitors: list[ResidualMonitor] = []

    def fresh_monitor() -> ResidualMonitor:
        monitors.append(ResidualMonitor(f))
        return monitors[-1]

    tol = cfg.tol if adaptive else -1.0
    z = run_with_fallback(cfg.name, fresh_monitor, z0, budget, tol, cfg.stop_mode, cfg, return_final=not adaptive)
    monitor = monitors[-1]
    final_abs, final_rel = _residual_of_estimate(monitor, cfg, adaptive)
    return z, summarise(monitor, cfg, adaptive, return_trace, final_abs, final_rel)


def _residual_of_estimate(monitor: ResidualMonitor, cfg: SolverConfig, adaptive: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Residuals at the returned estimate: the lowest seen (adaptive) or the last (fixed count)."""
    abs_trace, rel_trace = monitor.trace("abs"), monitor.trace("rel")
    if not adaptive:
        return abs_trace[:, -1], rel_trace[:, -1]
    key = abs_trace if cfg.stop_mode == "abs" else rel_trace
    best = key.argmin(dim=1, keepdim=True)
    return abs_trace.gather(1, best)[:, 0], rel_trace.gather(1, best)[:, 0]
