"""Anderson acceleration (type II) with a stop test that can be thinned or skipped.

The arithmetic is torchdeq's ``anderson_solver`` (history X, F of ``m`` slots filled in rotation,
the bordered least-squares system H alpha = e1 regularised by ``lam``, damping ``tau``; two plain
steps before the first mixing; each sample's lowest-residual image returned unless
``return_final``), so at ``every=1`` and the per-row stop it gives torchdeq's iterates bit for
bit. What it does differently, and why it is ours:

- the residuals come from the ``ResidualMonitor`` that wraps f (computed once per evaluation,
  not twice), in the monitor's stop scope (per row, per sample, per batch);
- the stop test (one value read back to the host) runs every ``every`` evaluations, or never
  (``every=0``: exactly ``budget`` evaluations and no host sync at all, for GPUs and graph capture);
- a singular or non-finite least-squares solution makes that row take a plain (damped) step
  instead of raising (``linalg.solve_ex``: no host sync), where torchdeq's ``linalg.solve``
  raised and the caller restarted the whole batch with plain iteration.
"""
from __future__ import annotations

import torch

from attractor.solvers.monitor import ResidualMonitor


def stop_due(evaluations: int, every: int) -> bool:
    """Whether the stop test runs after this many evaluations (``every=0``: never)."""
    return every > 0 and evaluations % every == 0


@torch.no_grad()
def anderson(f: ResidualMonitor, x0: torch.Tensor, budget: int, tol: float, every: int, m: int, lam: float,
             tau: float, return_final: bool) -> torch.Tensor:
    """At most ``budget`` (>= 3) evaluations of the monitored f from x0; stops once every row's
    residual (the monitor's stop residual) is below ``tol``, tested every ``every`` evaluations."""
    bsz = x0.shape[0]
    x0_flat = x0.flatten(start_dim=1)
    dim = x0_flat.shape[1]

    def g(x: torch.Tensor) -> torch.Tensor:
        return f(x.view_as(x0)).reshape_as(x)

    X = torch.zeros(bsz, m, dim, dtype=x0.dtype, device=x0.device)
    F = torch.zeros(bsz, m, dim, dtype=x0.dtype, device=x0.device)
    X[:, 0], F[:, 0] = x0_flat, g(x0_flat)
    X[:, 1], F[:, 1] = F[:, 0], g(F[:, 0])
    G = F - X  # residual history f(x) - x, one slot written per step (elementwise: the same bits as F - X)
    H = torch.zeros(bsz, m + 1, m + 1, dtype=x0.dtype, device=x0.device)
    H[:, 0, 1:] = H[:, 1:, 0] = 1
    y = torch.zeros(bsz, m + 1, 1, dtype=x0.dtype, device=x0.device)
    y[:, 0] = 1
    eye = torch.eye(m, dtype=x0.dtype, device=x0.device)
    plain = torch.eye(m, dtype=x0.dtype, device=x0.device)  # row j: all weight on slot j (a plain step)
    best, best_res = x0, torch.full((bsz,), 1e8, dtype=torch.float32, device=x0.device)
    for k in range(2, budget):
        n = min(k, m)
        H[:, 1:n + 1, 1:n + 1] = torch.bmm(G[:, :n], G[:, :n].transpose(1, 2)) + lam * eye[:n, :n][None]
        solution, info = torch.linalg.solve_ex(H[:, :n + 1, :n + 1], y[:, :n + 1])
        alpha = solution[:, 1:n + 1, 0]
        bad = (info != 0) | ~torch.isfinite(alpha).all(dim=1)
        alpha = torch.where(bad[:, None], plain[(k - 1) % m, :n], alpha)
        mixed = (alpha[:, None] @ F[:, :n])[:, 0]
        X[:, k % m] = mixed if tau == 1 else tau * mixed + (1 - tau) * (alpha[:, None] @ X[:, :n])[:, 0]
        F[:, k % m] = g(X[:, k % m])
        G[:, k % m] = F[:, k % m] - X[:, k % m]
        if return_final:
            continue
        res = f.stop_residual()
        better = res < best_res  # a NaN residual is never better
        best = torch.where(better.view(-1, *([1] * (x0.dim() - 1))), F[:, k % m].view_as(x0), best)
        best_res = torch.where(better, res.to(best_res.dtype), best_res)
        if stop_due(k + 1, every) and bool(res.max() < tol):
            break
    return F[:, (budget - 1) % m].view_as(x0).clone() if return_final else best
