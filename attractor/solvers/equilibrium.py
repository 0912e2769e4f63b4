"""``solve``: the one entry point that finds z* = f(z*) and wires its gradient per the config.

f is any callable on a tensor whose first dimension is the batch; nothing here knows what f computes.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

import torch

from attractor.solvers.backward import (attach_implicit_gradient, attach_neumann_gradient, damped_unroll,
                                        unrolled_iteration)
from attractor.solvers.config import SolverConfig
from attractor.solvers.forward import forward_solve, summarise
from attractor.solvers.jacobian import hutchinson_frobenius
from attractor.solvers.monitor import Fn, ResidualMonitor


@dataclass
class Equilibrium:
    """The fixed point (carrying gradients per the backward mode) and per-sample statistics."""

    z: torch.Tensor
    stats: dict[str, torch.Tensor]
    jacobian_penalty: torch.Tensor | None = None  # per-sample Hutchinson ||J_f||_F^2 / n, differentiable
    corrections: list[torch.Tensor] = field(default_factory=list)  # f at intermediate iterates, with gradients


def gradient_steps(cfg: SolverConfig) -> int:
    """Evaluations of f that carry the gradient, after the no-grad solve (``unrolled``: all of them)."""
    return {"implicit": 1, "neumann": 1, "phantom": cfg.phantom_steps, "last_k": cfg.last_k}[cfg.backward]


def solve(
    f: Fn,
    z0: torch.Tensor,
    cfg: SolverConfig,
    iters: int | None = None,
    return_trace: bool = False,
    jacobian_penalty: bool = False,
    samples: int | None = None,
) -> Equilibrium:
    """Find z* = f(z*) from z0.

    ``iters=None`` runs adaptively to ``cfg.tol`` within ``cfg.max_iter`` evaluations; ``iters=N``
    runs exactly N evaluations of f, as does ``cfg.stop_every=0`` (no stop test, no host sync). Either budget includes the evaluations that carry the gradient,
    and ``stats["iterations"]`` counts them. With gradients disabled only the forward solve runs.
    With gradients enabled the result carries the gradient of ``cfg.backward``; ``jacobian_penalty``
    adds a Hutchinson estimate at the input of the (first) gradient-carrying evaluation, and
    ``cfg.fp_correction`` (fixed-point correction, Bai et al. 2022) one gradient-carrying evaluation
    of f at each of that many intermediate iterates of the solve, for the caller to supervise.
    ``samples``: z0's rows are that many equal consecutive groups, one per sample (a causal model's
    positions), for ``cfg.stop_scope="sample"``; None: each row is a sample.
    """
    if iters is not None and iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    budget = cfg.max_iter if iters is None else iters
    adaptive = iters is None and cfg.stop_every > 0
    correct = torch.is_grad_enabled() and cfg.fp_correction > 0
    monitor = ResidualMonitor(f, cfg.stop_mode, keep=cfg.fp_correction if correct else 0, scope=cfg.stop_scope,
                              samples=samples)
    if not torch.is_grad_enabled():
        z, start = forward_solve(monitor, z0, cfg, budget, adaptive)
        return Equilibrium(z, summarise(monitor, cfg, z, start=start, solve_end=monitor.evaluations,
                                             adaptive=adaptive, lowest=adaptive, return_trace=return_trace))
    if cfg.backward == "unrolled":
        with _eager_if(jacobian_penalty):
            z, x = unrolled_iteration(monitor, z0, budget, cfg.tol, cfg.stop_every if adaptive else 0)
        stats = summarise(monitor, cfg, z.detach(), start=0, solve_end=monitor.evaluations, adaptive=adaptive,
                          lowest=False, return_trace=return_trace)
        return Equilibrium(z, stats, hutchinson_frobenius(z, x) if jacobian_penalty else None)

    steps = gradient_steps(cfg)
    if budget < steps:
        raise ValueError(f"backward={cfg.backward} carries the gradient through {steps} evaluations; "
                         f"a budget of {budget} is too small")
    z_star, start = forward_solve(monitor, z0, cfg, budget - steps, adaptive)
    solve_end = monitor.evaluations
    z_leaf = z_star.detach()
    if jacobian_penalty or cfg.backward in ("implicit", "neumann"):
        # a graph input: the penalty and the adjoint's vector-Jacobian products differentiate at z*
        # (phantom and last_k need no gradient there, and a leaf made here breaks a compiled graph)
        z_leaf.requires_grad_()
    with _eager_if(jacobian_penalty):
        fz = monitor(z_leaf)
    penalty = hutchinson_frobenius(fz, z_leaf) if jacobian_penalty else None
    if cfg.backward == "implicit":
        z = attach_implicit_gradient(fz, z_leaf, cfg)
    elif cfg.backward == "neumann":
        z = attach_neumann_gradient(fz, z_leaf, cfg.adjoint_clip)
    else:
        z = damped_unroll(monitor, z_leaf, fz, steps, cfg.phantom_tau if cfg.backward == "phantom" else 1.0)
    stats = summarise(monitor, cfg, z.detach(), start=start, solve_end=solve_end, adaptive=adaptive, lowest=False,
                      return_trace=return_trace)
    # the starting point with its graph, so the proposal that made it gets the direct signal too
    corrections = [f(z0 if i == 0 else x) for i, x in monitor.intermediate(solve_end)] if correct else []
    return Equilibrium(z, stats, penalty, corrections)


def _eager_if(penalised: bool):
    """Run compiled modules eagerly for an evaluation the Jacobian penalty differentiates twice:
    compiled graphs (``train.compile``) have no double backward. Every other evaluation stays compiled."""
    return torch.compiler.set_stance("force_eager") if penalised else nullcontext()
