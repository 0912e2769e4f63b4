"""Test-time scaling of a puzzle checkpoint along depth (more iterations) and breadth (K equilibria
from K initial states, one answer chosen by the ``attractor.particles`` selectors).

``run`` (the config, the sweep, the report), ``particles`` (initial states and their solves),
``energies`` (of an equilibrium), ``select`` (per-puzzle choice and accuracy rows), ``plots``.
"""
from attractor.evaluation.scaling.run import ScalingConfig, run_from_config, run_scaling, summary

__all__ = ["ScalingConfig", "run_from_config", "run_scaling", "summary"]
