"""``solve``: the one entry point that finds z* = f(z*) and wires its gradient per the config.

f is any callable on a tensor whose first dimension is the batch; nothing here knows what f computes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from attractor.solvers.backward import attach_implicit_gradient, damped_unroll, unrolled_iteration
from attractor.solvers.config import SolverConfig
from attractor.solvers.forward import Fn, forward_solve, summarise
from attractor.solvers.jacobian import hutchinson_frobenius


@dataclass
class Equilibrium:
    """The fixed point (carrying gradients per the backward mode) and per-sample statistics."""

    z: torch.Tensor
    stats: dict[str, torch.Tensor]
    jacobian_penalty: torch.Tensor | None = None  # per-sample ||J_f||_F^2 / dim, differentiable


def solve(
    f: Fn,
    z0: torch.Tensor,
    cfg: SolverConfig,
    iters: int | None = None,
    return_trace: bool = False,
    jacobian_penalty: bool = False,
) -> Equilibrium:
    """Find z* = f(z*) from z0.

    ``iters=None`` runs adaptively to ``cfg.tol``; ``iters=N`` runs exactly N evaluations. With
    gradients disabled only the forward solve runs. With gradients enabled the result carries the
    gradient of ``cfg.backward``; ``jacobian_penalty`` adds a Hutchinson estimate at z*.
    """
    if iters is not None and iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    budget = cfg.max_iter if iters is None else iters
    adaptive = iters is None
    if not torch.is_grad_enabled():
        z, stats = forward_solve(f, z0, cfg, budget, adaptive, return_trace)
        return Equilibrium(z, stats)
    if cfg.backward == "unrolled":
        z, monitor = unrolled_iteration(f, z0, budget)
        abs_res, rel_res = monitor.trace("abs")[:, -1], monitor.trace("rel")[:, -1]
        stats = summarise(monitor, cfg, adaptive, return_trace, abs_res, rel_res)
        return Equilibrium(z, stats, _penalty(f, z.detach()) if jacobian_penalty else None)

    grad_steps = {"implicit": 0, "phantom": 0, "last_k": cfg.last_k}[cfg.backward]
    if budget <= grad_steps:
        raise ValueError(f"last_k={cfg.last_k} needs more than {grad_steps} iterations, got {budget}")
    z_star, stats = forward_solve(f, z0, cfg, budget - grad_steps, adaptive, return_trace)
    z_leaf = z_star.detach().requires_grad_()
    fz = f(z_leaf)
    penalty = hutchinson_frobenius(fz, z_leaf) if jacobian_penalty else None
    if cfg.backward == "implicit":
        z = attach_implicit_gradient(fz, z_leaf, cfg)
    elif cfg.backward == "phantom":
        z = damped_unroll(f, z_leaf, fz, cfg.phantom_steps, cfg.phantom_tau)
    else:
        z = damped_unroll(f, z_leaf, fz, cfg.last_k, 1.0)
        stats["iterations"] = stats["iterations"] + cfg.last_k
    return Equilibrium(z, stats, penalty)


def _penalty(f: Fn, z: torch.Tensor) -> torch.Tensor:
    z_leaf = z.requires_grad_()
    return hutchinson_frobenius(f(z_leaf), z_leaf)
