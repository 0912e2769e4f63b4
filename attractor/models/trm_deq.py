"""TRM-DEQ: TRM whose reasoning updates are a fixed-point solve, the model behind the Attractor
paper's puzzle numbers (reference: ``experiments/attractor_puzzles/trm/trm_deq.py`` in jacobfa/Attractor).

Each cycle solves z* = g(z*) with g(z) = (1 - lambda) z + lambda net(z + y + x) (lambda = ``damping``;
the damped map has the undamped map's fixed points) through ``attractor.solvers.solve`` (our Anderson,
any backward mode; the published recipe is ``last_k`` with 2 iterates), then updates the answer
explicitly, y <- net(y + z*). The first T - 1 cycles run without gradients, as in TRM. EqR's noise,
if on, is added to z* after the solve: noise inside g would leave it without a fixed point.

Differences from the reference, on purpose: our Anderson's history window is indexed correctly (the
reference's collapses its iterates, so its solve is much shallower than a converged one); the
gradient-carrying iterates are inside the budget (``max_iter`` counts every evaluation of g).

Inference modes: ``solver`` (adaptive to ``solver.tol`` within ``solver.max_iter``), ``iters=N``
(exactly N evaluations of g per cycle), ``none`` (the solver removed: one explicit update z <- g(z)
per cycle, so the answer update still runs).
"""
from __future__ import annotations

import torch

from attractor.models.config import TRMDEQConfig
from attractor.models.trm import Recursive
from attractor.solvers import solve
from attractor.solvers.health import solve_rows

Tensor = torch.Tensor


class TRMDEQ(Recursive):
    cfg: TRMDEQConfig

    def reason(self, z: Tensor, context: Tensor, rope, parsed) -> tuple[Tensor, dict[str, Tensor]]:
        batch, length, dim = z.shape

        def g(rows: Tensor) -> Tensor:
            h = rows.reshape(batch, length, dim)
            return self.damped(h, self.net(h + context, rope)).reshape(batch, -1)

        if parsed == "none":
            ones = torch.ones(batch, dtype=torch.long, device=z.device)
            return self.noisy(g(z.reshape(batch, -1)).reshape(z.shape)), {"evaluations": ones}
        eq = solve(g, z.reshape(batch, -1), self.cfg.solver, iters=parsed)
        info = {"evaluations": eq.stats["iterations"], "diverged": eq.stats["diverged"],
                "converged": eq.stats["converged"], "solver_rel_residual": eq.stats["rel_residual"],
                "solve": solve_rows(eq.stats, self.cfg.solver)}
        return self.noisy(eq.z.reshape(z.shape)), info
