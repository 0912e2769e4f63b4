"""Forward fixed-point solves with per-sample statistics.

Anderson and Broyden come from torchdeq; they count and stop differently from one another (Anderson
spends two plain steps before it mixes and returns its starting point if given fewer than three
evaluations; Broyden evaluates once before its loop). ``run_solver`` hides that: its budget is always
the number of evaluations of f. Plain (damped) iteration is our own ``damped_iteration``: torchdeq's
``fixed_point_iter`` stops on tau * ||f(x) - x||, so damping loosened its tolerance by 1 / tau.

Residuals are recorded by a wrapper around f, so every solver yields the same trace: one entry per
evaluation, ||f(x) - x|| at the point evaluated (the true residual, whatever the damping).
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


def residuals(fx: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample ||f(x) - x|| and ||f(x) - x|| / ||f(x)||."""
    diff = (fx - x).flatten(1).norm(dim=1)
    return diff, diff / (fx.flatten(1).norm(dim=1) + 1e-9)


class ResidualMonitor:
    """Wraps f and records, per sample, ||f(x) - x|| and its relative form at every evaluation.

    ``keep > 0`` also keeps between ``keep`` and ``2 keep`` of the points evaluated, evenly spaced
    over however many evaluations the solve takes (every ``stride``-th; the stride doubles whenever
    the kept set fills), for fixed-point correction: memory stays bounded at any depth.
    """

    def __init__(self, f: Fn, stop_mode: str = "abs", keep: int = 0):
        self.f, self.stop_mode, self.keep = f, stop_mode, keep
        self.abs: list[torch.Tensor] = []
        self.rel: list[torch.Tensor] = []
        self.kept: list[tuple[int, torch.Tensor]] = []
        self.stride = 1

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.keep and self.evaluations % self.stride == 0:
            self._keep(x)
        fx = self.f(x)
        with torch.no_grad():
            abs_res, rel_res = residuals(fx, x)
        self.abs.append(abs_res)
        self.rel.append(rel_res)
        return fx

    def _keep(self, x: torch.Tensor) -> None:
        self.kept.append((self.evaluations, x.detach()))
        if len(self.kept) > 2 * self.keep:
            self.stride *= 2
            self.kept = [(i, z) for i, z in self.kept if i % self.stride == 0]

    def intermediate(self, before: int) -> list[tuple[int, torch.Tensor]]:
        """Up to ``keep`` of the (evaluation index, point) kept before evaluation ``before``, evenly
        spaced from the first (the starting point) onwards; points that went non-finite (a discarded
        attempt) are skipped."""
        points = [(i, z) for i, z in self.kept if i < before and bool(torch.isfinite(z).all())]
        if len(points) <= self.keep:
            return points
        return [points[j * len(points) // self.keep] for j in range(self.keep)]

    def latest(self) -> torch.Tensor:
        """Per-sample residual of the last evaluation, in the stop mode."""
        return (self.abs if self.stop_mode == "abs" else self.rel)[-1]

    @property
    def evaluations(self) -> int:
        return len(self.abs)

    def trace(self, mode: str) -> torch.Tensor:
        """(B, evaluations) residuals in the given stop mode."""
        return torch.stack(self.abs if mode == "abs" else self.rel, dim=1)


def damped_iteration(f: Fn, x0: torch.Tensor, max_iter: int, tol: float, stop_mode: str, tau: float,
                     return_final: bool = False) -> torch.Tensor:
    """x <- (1 - tau) x + tau f(x), stopping once every sample's true residual ||f(x) - x|| is below tol.

    Returns the last iterate (``return_final``) or, per sample, the iterate that followed its
    lowest residual.
    """
    x, best = x0, x0
    best_res = torch.full((x0.shape[0],), float("inf"), device=x0.device)
    for _ in range(max_iter):
        fx = f(x)
        res = residuals(fx, x)[0 if stop_mode == "abs" else 1]
        x_next = fx if tau == 1 else (1 - tau) * x + tau * fx
        better = res < best_res  # a NaN residual is never better
        best = torch.where(better.view(-1, *([1] * (x0.dim() - 1))), x_next, best)
        best_res = torch.where(better, res, best_res)
        x = x_next
        if not return_final and bool((res < tol).all()):
            break
    return x if return_final else best


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
    """Run solver `name` for at most `budget` evaluations of f; returns its estimate."""
    if budget < _MIN_EVALS[name]:
        name = "fixed_point_iter"
    if name == "fixed_point_iter":
        return damped_iteration(f, x0, budget, tol, stop_mode, cfg.tau, return_final)
    # Broyden reads neither tau nor the Anderson options (SolverConfig refuses them with Broyden).
    options = dict(m=cfg.anderson_m, lam=cfg.anderson_lam, tau=cfg.tau) if name == "anderson" else {}
    z, _, _ = get_solver(name)(f, x0, max_iter=budget - _EXTRA_EVALS[name], tol=tol, stop_mode=stop_mode,
                               return_final=return_final, **options)
    return z


def run_with_fallback(name: str, make_f: Callable[[], Fn], x0: torch.Tensor, budget: int, tol: float,
                      stop_mode: str, cfg: SolverConfig, return_final: bool = False) -> torch.Tensor:
    """``run_solver``, falling back to plain iteration when Anderson's or Broyden's least squares go
    singular (a LinAlgError or non-finite iterates). ``make_f`` is called once per attempt, so the
    caller knows where the attempt that produced the answer began."""
    try:
        z = run_solver(name, make_f(), x0, budget, tol, stop_mode, cfg, return_final)
        if torch.isfinite(z).all() or name == "fixed_point_iter":
            return z
    except torch.linalg.LinAlgError:
        if name == "fixed_point_iter":
            raise
    return run_solver("fixed_point_iter", make_f(), x0, budget, tol, stop_mode, cfg, return_final)


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

    def attempt() -> Fn:
        starts.append(monitor.evaluations)
        return monitor

    if budget == 0:
        return z0, monitor.evaluations
    tol = cfg.tol if adaptive else -1.0
    z = run_with_fallback(cfg.name, attempt, z0, budget, tol, cfg.stop_mode, cfg, return_final=not adaptive)
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
    trace = monitor.trace(cfg.stop_mode)
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
    final = final_abs if cfg.stop_mode == "abs" else final_rel
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
