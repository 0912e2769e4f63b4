"""Solver options: forward solver, stopping rule, backward (gradient) mode, Jacobian regularisation.

Validated here rather than by torchdeq, which ignores unknown keys, reads only ``f_stop_mode``, and
answers a misspelt solver name with a bare AssertionError. An option that no solver of the config
reads (``tau`` with Broyden, the Anderson options without an Anderson solve) is refused rather than
silently ignored.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from attractor.config import capped, require

SolverName = Literal["anderson", "broyden", "fixed_point_iter"]
BackwardMode = Literal["implicit", "neumann", "phantom", "last_k", "unrolled"]
StopMode = Literal["abs", "rel"]


@dataclass
class SolverConfig:
    """How z* = f(z*) is found and differentiated."""

    name: SolverName = "anderson"  # forward solver
    max_iter: int = capped(30, "solver_iters")  # most function evaluations in adaptive (`solver`) mode
    tol: float = 1e-4  # stop once every sample's residual is below this
    stop_mode: StopMode = "rel"  # residual ||f(z)-z|| ('abs') or divided by ||f(z)|| ('rel')
    anderson_m: int = 5  # Anderson history size
    anderson_lam: float = 1e-8  # Anderson least-squares regulariser (torchdeq default 1e-4 stalls: docs/results/core_cpu.md)
    tau: float = 1.0  # damping of Anderson and fixed-point iteration, forward and adjoint (1 = undamped); not Broyden
    backward: BackwardMode = "implicit"  # how gradients reach the parameters (neumann: u = v + J^T v, one VJP)
    b_solver: SolverName = "anderson"  # solver of the implicit (IFT) adjoint system
    b_max_iter: int = capped(30, "solver_iters")  # iterations of the adjoint solve
    b_tol: float = 1e-4  # tolerance of the adjoint solve
    b_stop_mode: StopMode = "rel"
    phantom_steps: int = 5  # damped unrolled steps from z* for the phantom gradient
    phantom_tau: float = 0.5  # damping of those steps
    last_k: int = 2  # iterates backpropagated through in `last_k` mode
    jac_reg_weight: float = 0.0  # weight of the Jacobian penalty ||J_f||_F^2 / (n * width), the reference's (0 = off)
    jac_reg_freq: float = 1.0  # probability that a training step computes the penalty

    def __post_init__(self) -> None:
        require(self.max_iter >= 1, "max_iter", f"must be >= 1 (the solver needs iterations), got {self.max_iter}")
        require(self.tol >= 0, "tol", f"must be >= 0, got {self.tol}")
        require(self.anderson_m >= 2, "anderson_m", f"must be >= 2, got {self.anderson_m}")
        require(self.anderson_lam >= 0, "anderson_lam", f"must be >= 0, got {self.anderson_lam}")
        require(0 < self.tau <= 1, "tau", f"must be in (0, 1], got {self.tau}")
        require(self.b_max_iter >= 1, "b_max_iter", f"must be >= 1, got {self.b_max_iter}")
        require(self.b_tol >= 0, "b_tol", f"must be >= 0, got {self.b_tol}")
        require(self.phantom_steps >= 1, "phantom_steps", f"must be >= 1, got {self.phantom_steps}")
        require(0 < self.phantom_tau <= 1, "phantom_tau", f"must be in (0, 1], got {self.phantom_tau}")
        require(self.last_k >= 1, "last_k", f"must be >= 1, got {self.last_k}")
        for mode, key in (("last_k", "last_k"), ("phantom", "phantom_steps")):
            steps = getattr(self, key)
            require(self.backward != mode or steps < self.max_iter, key,
                    f"must be < max_iter={self.max_iter} (gradient-carrying steps are in the budget), got {steps}")
        self._refuse_ignored_options()
        require(self.jac_reg_weight >= 0, "jac_reg_weight", f"must be >= 0, got {self.jac_reg_weight}")
        require(0 <= self.jac_reg_freq <= 1, "jac_reg_freq", f"must be in [0, 1], got {self.jac_reg_freq}")

    def _refuse_ignored_options(self) -> None:
        """Refuse a non-default value of an option no solver of this config reads."""
        solvers = {self.name} | ({self.b_solver} if self.backward == "implicit" else set())
        where = "name" if self.name == "broyden" else "b_solver"
        require(self.tau == 1.0 or "broyden" not in solvers, "tau",
                f"Broyden has no damping; got tau={self.tau} with {where}=broyden")
        if "anderson" not in solvers:
            defaults = {f.name: f.default for f in fields(self)}
            for key in ("anderson_m", "anderson_lam"):
                require(getattr(self, key) == defaults[key], key,
                        f"only Anderson reads it, and no Anderson solve runs here (solvers: {sorted(solvers)})")
