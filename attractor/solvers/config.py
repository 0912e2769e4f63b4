"""Solver options: forward solver, stopping rule, backward (gradient) mode, Jacobian regularisation.

Validated here rather than by torchdeq, which ignores unknown keys, reads only ``f_stop_mode``, and
answers a misspelt solver name with a bare AssertionError. An option that no solver of the config
reads (``tau`` with Broyden, the Anderson options without an Anderson solve) is refused rather than
silently ignored.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Literal

from attractor.config import capped, require

SolverName = Literal["anderson", "broyden", "fixed_point_iter"]
BackwardMode = Literal["implicit", "neumann", "phantom", "last_k", "unrolled"]
StopMode = Literal["abs", "rel"]
StopScope = Literal["row", "sample", "batch"]
WarmupMode = Literal["none", "unrolled", "last_k"]


@dataclass
class SolverConfig:
    """How z* = f(z*) is found and differentiated."""

    name: SolverName = "anderson"  # forward solver
    max_iter: int = capped(30, "solver_iters")  # most function evaluations in adaptive (`solver`) mode
    tol: float = 1e-4  # stop once every sample's residual is below this
    stop_mode: StopMode = "rel"  # residual ||f(z)-z|| ('abs') or divided by ||f(z)|| ('rel')
    stop_scope: StopScope = "row"  # whose residual meets tol: each solver row's, each sample's rows together (the reference's), the batch's
    stop_every: int = 1  # evaluations between stop tests, each one host sync (0: never test: max_iter evaluations, no sync)
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
    adjoint_clip: bool = False  # neumann/implicit: clip the adjoint's Jacobian term to the loss gradient's norm, per row (the reference's)
    fp_correction: int = 0  # fixed-point correction: intermediate iterates of the solve supervised with the task loss (0 = off)
    fp_correction_weight: float = 0.5  # weight of the mean loss of those iterates
    backward_warmup: WarmupMode = "none"  # backward mode of the first backward_warmup_steps training steps
    backward_warmup_steps: int = 0

    def __post_init__(self) -> None:
        require(self.max_iter >= 1, "max_iter", f"must be >= 1 (the solver needs iterations), got {self.max_iter}")
        require(self.tol >= 0, "tol", f"must be >= 0, got {self.tol}")
        require(self.stop_every >= 0, "stop_every", f"must be >= 0 (0: no stop test), got {self.stop_every}")
        adjoint = {self.b_solver} if self.backward == "implicit" else set()
        for key, default, solvers in (("stop_scope", "row", {self.name}), ("stop_every", 1, {self.name} | adjoint)):
            require("broyden" not in solvers or getattr(self, key) == default, key,
                    f"torchdeq's Broyden runs its own per-row stop test at every step; got {getattr(self, key)!r}")
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
        self._check_stabilisers()

    def _check_stabilisers(self) -> None:
        require(not self.adjoint_clip or self.backward in ("neumann", "implicit"), "adjoint_clip",
                f"clips the adjoint of the neumann and implicit gradients; backward={self.backward} has none")
        require(self.fp_correction >= 0, "fp_correction", f"must be >= 0, got {self.fp_correction}")
        require(not self.fp_correction or self.backward != "unrolled", "fp_correction",
                "unrolled already backpropagates through every iterate; use another backward mode")
        require(self.fp_correction_weight >= 0, "fp_correction_weight", f"must be >= 0, got {self.fp_correction_weight}")
        require(self.backward_warmup_steps >= 0, "backward_warmup_steps", f"must be >= 0, got {self.backward_warmup_steps}")
        require((self.backward_warmup == "none") == (self.backward_warmup_steps == 0), "backward_warmup",
                f"{self.backward_warmup!r} with backward_warmup_steps={self.backward_warmup_steps}: set both or neither")
        require(self.backward_warmup != "last_k" or self.last_k < self.max_iter, "last_k",
                f"must be < max_iter={self.max_iter} for the last_k warm-up, got {self.last_k}")

    def at_step(self, step: int) -> SolverConfig:
        """The config training step ``step`` uses: the warm-up backward mode for the first
        ``backward_warmup_steps`` steps (torchdeq's recipe: a shallow unrolled or last-K gradient
        while the map is far from contractive), then this one. A pure function of the step, so a
        resumed run switches where an uninterrupted one would."""
        if step >= self.backward_warmup_steps:
            return self
        correction = 0 if self.backward_warmup == "unrolled" else self.fp_correction
        return replace(self, backward=self.backward_warmup, adjoint_clip=False, fp_correction=correction,
                       backward_warmup="none", backward_warmup_steps=0)

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
