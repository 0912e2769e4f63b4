"""The energies of an LM trajectory (a ``Particle``) by name: the registry the decoding config and
runner read. The energies themselves are ``attractor.particles.energies``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from attractor.decoding.particle import Particle
from attractor.particles.energies import hidden_svd_entropy, nll, psd_spectral_entropy, solver_mean, token_entropy


def _hidden_of(p: Particle) -> torch.Tensor:
    if p.hidden is None:
        raise ValueError("hidden_svd_entropy needs hidden states: give the sampler a hidden_module")
    return p.hidden


ENERGIES: dict[str, Callable[[Particle], float]] = {
    "nll": lambda p: nll(p.logprobs),
    "token_entropy": lambda p: token_entropy(p.entropies),
    "psd_spectral_entropy": lambda p: psd_spectral_entropy(p.logprobs),
    "hidden_svd_entropy": lambda p: hidden_svd_entropy(_hidden_of(p)),
}
SOLVER_ENERGIES = {"solver_residual": "rel_residual", "solver_iterations": "iterations"}
"""Energies read from the attractor LM's per-token solver statistics (energy -> statistic)."""


def _solver_energy(energy: str) -> Callable[[Particle], float]:
    stat = SOLVER_ENERGIES[energy]

    def compute(p: Particle) -> float:
        if stat not in p.solver:
            raise ValueError(f"{energy} needs the solver statistic {stat!r}: decode a model that solves (attractor)")
        return solver_mean(p.solver[stat], energy)

    return compute


ENERGIES |= {name: _solver_energy(name) for name in SOLVER_ENERGIES}


def get_energy(name: str) -> Callable[[Particle], float]:
    """Look an energy up by name; an unknown name lists the valid ones."""
    if name not in ENERGIES:
        raise KeyError(f"unknown energy {name!r}; valid: {', '.join(sorted(ENERGIES))}")
    return ENERGIES[name]


def compute_energies(names: Sequence[str], particles: Sequence[Particle]) -> dict[str, list[float]]:
    """Every named energy of every particle, in particle order."""
    return {name: [get_energy(name)(p) for p in particles] for name in names}
