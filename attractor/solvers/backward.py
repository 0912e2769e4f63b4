"""Backward modes: how the gradient of a loss at z* reaches the parameters of f and its inputs.

- ``implicit``: implicit function theorem. With z* = f(z*), dL/dtheta = g^T df/dtheta where
  g = (I - J_f)^-T dL/dz*, found by solving g = J_f^T g + dL/dz* with ``b_solver`` inside a gradient
  hook. Memory: one evaluation of f, whatever the forward depth.
- ``neumann``: the adjoint g = (I - J_f)^-T dL/dz* truncated after its first two Neumann terms,
  u = dL/dz* + J_f^T dL/dz*: one vector-Jacobian product instead of the adjoint solve (the
  reference LM code's default). At an exact fixed point it equals ``last_k`` with K = 2 and costs the
  same backward (two VJPs) for one evaluation of f fewer. Its relative error is at most
  ||J||^2 (1 + ||J||) / (1 - ||J||): small only for a strongly contractive map.
- ``adjoint_clip`` (neumann, implicit): the adjoint's Jacobian term (J^T v for neumann, g - v for
  implicit) is scaled down, per solver row, to at most the norm of the incoming gradient v, the
  reference LM code's default: a map that stops contracting then cannot amplify the gradient.
- ``phantom``: k damped steps z <- (1 - tau) z + tau f(z) from z*, backpropagated.
- ``last_k``: the last K iterates of the solve are taken with gradients (phantom with tau = 1).
- ``unrolled``: plain iteration from z0 with every step backpropagated, stopping at the tolerance
  in adaptive mode (the reference; memory grows with depth).

The gradient-carrying evaluations are part of the forward budget: ``solve`` gives the no-grad solve
what is left after them, so ``iters=N`` is N evaluations of f in every mode.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from attractor.solvers.anderson import stop_due
from attractor.solvers.config import SolverConfig
from attractor.solvers.forward import run_with_fallback
from attractor.solvers.monitor import Fn, ResidualMonitor


Vjp = Callable[[torch.Tensor], torch.Tensor]


def _replace_gradient(fz: torch.Tensor, z: torch.Tensor,
                      adjoint: Callable[[Vjp, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Backpropagate ``adjoint(vjp, dL/dfz)`` through ``fz = f(z)`` (z a detached leaf at the fixed
    point) instead of dL/dfz; ``vjp(y)`` is J_f^T y."""
    if not fz.requires_grad:
        return fz

    def hook(grad: torch.Tensor) -> torch.Tensor:
        handle.remove()  # the vector-Jacobian products below must not re-enter this hook
        return adjoint(lambda y: torch.autograd.grad(fz, z, y, retain_graph=True)[0], grad)

    handle = fz.register_hook(hook)
    return fz


def clip_to(term: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``term`` with each row (first dimension) scaled down to at most the norm of ``v``'s row."""
    shape = (-1,) + (1,) * (term.dim() - 1)
    norm, limit = term.flatten(1).norm(dim=1), v.flatten(1).norm(dim=1)
    return term * (limit / norm.clamp(min=1e-30)).clamp(max=1.0).view(shape)


def attach_implicit_gradient(fz: torch.Tensor, z: torch.Tensor, cfg: SolverConfig) -> torch.Tensor:
    """Make gradients through ``fz = f(z)`` implicit ones: the adjoint g = J^T g + v, solved."""

    def adjoint(vjp: Vjp, v: torch.Tensor) -> torch.Tensor:
        g = run_with_fallback(cfg.b_solver, lambda: ResidualMonitor(lambda y: vjp(y) + v, cfg.b_stop_mode),
                              torch.zeros_like(v), cfg.b_max_iter, cfg.b_tol, cfg.stop_every, cfg)
        return v + clip_to(g - v, v) if cfg.adjoint_clip else g

    return _replace_gradient(fz, z, adjoint)


def attach_neumann_gradient(fz: torch.Tensor, z: torch.Tensor, clip: bool = False) -> torch.Tensor:
    """Make gradients through ``fz = f(z)`` one-step Neumann ones: u = v + J^T v (``clip``: J^T v
    clipped to the norm of v, per row)."""
    if clip:
        return _replace_gradient(fz, z, lambda vjp, v: v + clip_to(vjp(v), v))
    return _replace_gradient(fz, z, lambda vjp, v: v + vjp(v))


def damped_unroll(f: Fn, z: torch.Tensor, fz: torch.Tensor, steps: int, tau: float) -> torch.Tensor:
    """``steps`` damped iterations from z with gradients; ``fz = f(z)`` is the first of them, given."""
    z = (1 - tau) * z + tau * fz
    for _ in range(steps - 1):
        z = (1 - tau) * z + tau * f(z)
    return z


def unrolled_iteration(f: ResidualMonitor, z0: torch.Tensor, steps: int, tol: float,
                       every: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain iteration z <- f(z) from z0, every evaluation kept in the graph, for ``steps`` evaluations
    or until every row's stop residual (the monitor's) is below ``tol``, tested every ``every``
    evaluations (0: never).

    Returns the last iterate f(x) and its input x, at which the Jacobian penalty is taken. z0 is made
    a graph input if it is not one, so that x always is.
    """
    x = z0 if z0.requires_grad else z0.detach().requires_grad_()
    z = f(x)
    for i in range(1, steps):
        if stop_due(i, every) and bool((f.stop_residual() < tol).all()):
            break
        x, z = z, f(z)
    return z, x
