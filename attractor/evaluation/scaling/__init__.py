"""Test-time scaling of a puzzle checkpoint along depth (more iterations) and breadth (K equilibria
from K initial states, one answer chosen by the ``attractor.particles`` selectors).

``config`` (the options: the ``scaling`` group), ``run`` (the sweep, the report, ``eval.py
action=scale``), ``particles`` (initial states and their solves), ``energies`` (of an equilibrium),
``select`` (per-puzzle choice and accuracy rows), ``plots``.
"""
