"""Jacobian diagnostics of f at a point: Hutchinson Frobenius estimate and power-iteration spectral radius.

The Frobenius estimate is the training regulariser of deep equilibrium models (a small ||J_f||
keeps f contractive and the solve short); the spectral radius measures how sharp a basin is.
"""
from __future__ import annotations

import torch

from attractor.solvers.monitor import Fn


def hutchinson_frobenius(fz: torch.Tensor, z: torch.Tensor, samples: int = 1, create_graph: bool = True) -> torch.Tensor:
    """Per-sample unbiased estimate of ||J||_F^2 / n for fz = f(z), J = dfz/dz, n = fz[0].numel().

    Per element: E_v ||v^T J||^2 = ||J||_F^2 for v ~ N(0, I), divided by the n features of a sample,
    so it is O(1) for an O(1) Jacobian at any size (the identity map gives 1). The attractor's
    training penalty divides this by the model width as well (the reference's normalisation, see
    docs/models.md). ``z`` must require grad and ``fz`` depend on it.
    """
    total = torch.zeros(fz.shape[0], device=fz.device, dtype=fz.dtype)
    for _ in range(samples):
        v = torch.randn_like(fz)
        (vjp,) = torch.autograd.grad(fz, z, v, create_graph=create_graph, retain_graph=True)
        total = total + vjp.flatten(1).pow(2).sum(dim=1)
    return total / (samples * fz[0].numel())


@torch.no_grad()
def spectral_radius(f: Fn, z: torch.Tensor, iters: int = 20) -> torch.Tensor:
    """Per-sample estimate of the largest |eigenvalue| of J_f(z) by power iteration.

    Iterates v <- J^T v (J and J^T share eigenvalues), since reverse mode works for every layer.
    """
    shape = (-1,) + (1,) * (z.dim() - 1)
    with torch.enable_grad():
        z = z.detach().requires_grad_()
        fz = f(z)
        v = torch.randn_like(z)
        v = v / v.flatten(1).norm(dim=1).view(shape)
        radius = torch.zeros(z.shape[0], device=z.device, dtype=z.dtype)
        for _ in range(iters):
            (jtv,) = torch.autograd.grad(fz, z, v, retain_graph=True)
            radius = jtv.flatten(1).norm(dim=1)
            v = jtv / (radius.view(shape) + 1e-12)
    return radius
