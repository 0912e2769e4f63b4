"""Forward fixed-point solves with per-sample statistics.

Anderson is our own (``anderson.py``: torchdeq's arithmetic, a thinned or skipped stop test, no
host sync in its loop); Broyden comes from torchdeq. They count differently (Anderson spends two
plain steps before it mixes; Broyden evaluates once before its loop): ``run_solver`` hides that, its
budget is always the number of evaluations of f. Plain (damped) iteration is our own
``damped_iteration``: torchdeq's ``fixed_point_iter`` stops on tau * ||f(x) - x||, so damping
loosened its tolerance by 1 / tau.

Residuals are recorded by a wrapper around f (``ResidualMonitor``), so every solver yields the same
trace and stops by the same rule: one entry per evaluation, ||f(x) - x|| at the point evaluated (the
true residual, whatever the damping), per row and in the stop scope.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torchdeq.solver import get_solver

from attractor.solvers.anderson import anderson, stop_due
from attractor.solvers.config import SolverConfig
from attractor.solvers.monitor import ResidualMonitor

# Fewest evaluations at which each solver does its own thing; below it, plain iteration is the same
# computation (Anderson's first two steps are plain iteration) without the solver's traps.
_MIN_EVALS = {"anderson": 3, "broyden": 2, "fixed_point_iter": 1}
# Evaluations each solver spends beyond its `max_iter` argument.
_EXTRA_EVALS = {"anderson": 0, "broyden": 1, "fixed_point_iter": 0}


def damped_iteration(f: ResidualMonitor, x0: torch.Tensor, max_iter: int, tol: float, every: int, tau: float,
                     return_final: bool = False) -> torch.Tensor:
    """x <- (1 - tau) x + tau f(x), stopping once every row's true residual ||f(x) - x|| (the
    monitor's stop residual) is below tol, tested every ``every`` evaluations (0: never).

    Returns the last iterate (``return_final``) or, per row, the iterate that followed its
    lowest residual.
    """
    x, best = x0, x0
    best_res = torch.full((x0.shape[0],), float("inf"), device=x0.device)
    for i in range(max_iter):
        fx = f(x)
        x_next = fx if tau == 1 else (1 - tau) * x + tau * fx
        x = x_next
        if return_final:
            continue
        res = f.stop_residual()
        better = res < best_res  # a NaN residual is never better
        best = torch.where(better.view(-1, *([1] * (x0.dim() - 1))), x_next, best)
        best_res = torch.where(better, res, best_res)
        if stop_due(i + 1, every) and bool((res < tol).all()):
            break
    return x if return_final else best


def run_solver(name: str, f: ResidualMonitor, x0: torch.Tensor, budget: int, tol: float, every: int,
               cfg: SolverConfig, return_final: bool = False) -> torch.Tensor:
    """Run solver `name` for at most `budget` evaluations of f (stop test every ``every``); returns
    its estimate."""
    if budget < _MIN_EVALS[name]:
        name = "fixed_point_iter"
    if name == "fixed_point_iter":
        return damped_iteration(f, x0, budget, tol, every, cfg.tau, return_final)
    if name == "anderson":
        return anderson(f, x0, budget, tol, every, cfg.anderson_m, cfg.anderson_lam, cfg.tau, return_final)
    # torchdeq's Broyden: its own per-row stop test at every step (SolverConfig refuses another
    # scope or stride with it, and the damping and Anderson options it does not read).
    z, _, _ = get_solver(name)(f, x0, max_iter=budget - _EXTRA_EVALS[name], tol=tol, stop_mode=f.stop_mode,
                               return_final=return_final)
    return z


def run_with_fallback(name: str, make_f: Callable[[], ResidualMonitor], x0: torch.Tensor, budget: int, tol: float,
                      every: int, cfg: SolverConfig, return_final: bool = False) -> torch.Tensor:
    """``run_solver``, falling back to plain iteration when the iterates went non-finite (or
    Broyden's least squares singular). ``make_f`` is called once per attempt, so the caller knows
    where the attempt that produced the answer began. ``every=0`` (no host sync) skips the check:
    a non-finite row is then only flagged (``summarise``'s ``diverged``)."""
    try:
        z = run_solver(name, make_f(), x0, budget, tol, every, cfg, return_final)
        if name == "fixed_point_iter" or every == 0 or torch.isfinite(z).all():
            return z
    except torch.linalg.LinAlgError:
        if name == "fixed_point_iter":
            raise
    return run_solver("fixed_point_iter", make_f(), x0, budget, tol, every, cfg, return_final)


@torch.no_grad()
def forward_solve(monitor: ResidualMonitor, z0: torch.Tensor, cfg: SolverConfig, budget: int,
                  adaptive: bool) -> tuple[torch.Tensor, int]:
    """Solve z = f(z) from z0 without gradients, in at most ``budget`` evaluations of the monitored f.

    Adaptive: stop once every sample's residual is below ``cfg.tol``; each sample gets its
    lowest-residual estimate. Otherwise: exactly ``budget`` evaluations, returning the last iterate.
    ``budget = 0`` returns z0. Also returns the index of the monitor's first evaluation of the
    attempt that produced the answer (later than 0 after a fallback).
    """
    starts: list[int] = []

    def attempt() -> ResidualMonitor:
        starts.append(monitor.evaluations)
        return monitor

    if budget == 0:
        return z0, monitor.evaluations
    tol = cfg.tol if adaptive else -1.0
    z = run_with_fallback(cfg.name, attempt, z0, budget, tol, cfg.stop_every, cfg, return_final=not adaptive)
    return z, starts[-1]


def summarise(monitor: ResidualMonitor, cfg: SolverConfig, z: torch.Tensor, *, start: int, solve_end: int,
              adaptive: bool, lowest: bool, return_trace: bool) -> dict[str, torch.Tensor]:
    """Per-sample statistics of a solve whose evaluations the monitor recorded.

    Evaluations ``[start, solve_end)`` are the solver attempt that produced the answer (earlier ones:
    an attempt a fallback discarded); those after ``solve_end`` are the gradient-carrying ones.
    ``iterations`` counts every evaluation; adaptively, each sample counts the solve only up to its
    first residual below ``cfg.tol``. Residuals are those of the lowest-residual evaluation of the
    solve (``lowest``: the estimate an adaptive solve returns) or of the last evaluation.
    ``diverged``: the attempt or the returned z went non-finite.
    """
    trace = monitor.stop_trace()
    abs_trace, rel_trace = monitor.trace("abs"), monitor.trace("rel")
    total, solve = monitor.evaluations, trace[:, start:solve_end]
    if adaptive and solve.shape[1] > 0:
        below = solve < cfg.tol
        needed = torch.where(below.any(dim=1), below.float().argmax(dim=1) + 1, solve.shape[1])
        iterations = start + needed + (total - solve_end)
    else:
        iterations = torch.full((trace.shape[0],), total, device=trace.device)
    if lowest:
        pick = solve.nan_to_num(nan=float("inf")).argmin(dim=1, keepdim=True) + start
    else:
        pick = torch.full((trace.shape[0], 1), total - 1, device=trace.device)
    final_abs, final_rel = abs_trace.gather(1, pick)[:, 0], rel_trace.gather(1, pick)[:, 0]
    diverged = ~torch.isfinite(abs_trace[:, start:]).all(dim=1) | ~torch.isfinite(z.flatten(1)).all(dim=1)
    final = trace.gather(1, pick)[:, 0]  # the residual the tolerance is compared with (stop mode, scope)
    stats = {
        "iterations": iterations.long(),
        "abs_residual": final_abs,
        "rel_residual": final_rel,
        "converged": (final <= cfg.tol) & ~diverged,
        "diverged": diverged,
    }
    if return_trace:
        stats["residual_trace"] = trace
    return stats
