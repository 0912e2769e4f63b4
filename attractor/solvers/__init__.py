"""Fixed-point solves of z = f(z) for any callable f: forward solvers (our Anderson, torchdeq's Broyden, plain iteration), backward modes, diagnostics."""
from attractor.solvers.config import SolverConfig
from attractor.solvers.equilibrium import Equilibrium, solve
from attractor.solvers.jacobian import hutchinson_frobenius, spectral_radius

__all__ = ["Equilibrium", "SolverConfig", "hutchinson_frobenius", "solve", "spectral_radius"]
