"""Gibbs weightings: map the K particles' energies to vote weights that sum to one."""
from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch


def boltzmann(energies: torch.Tensor, beta: float = 1.0, standardize: bool = False) -> torch.Tensor:
    """exp(-beta E) normalised (a softmax, so large beta cannot overflow). ``standardize`` first
    z-scores E across the K particles so one beta means the same thing for every energy scale."""
    e = energies.double()
    if standardize:
        std = e.std(unbiased=False)
        e = (e - e.mean()) / std if std > 0 else torch.zeros_like(e)
    return torch.softmax(-beta * e, dim=0)


def inverse_power(energies: torch.Tensor, p: float = 2.0, eps: float = 1e-8) -> torch.Tensor:
    """1 / (E^p + eps) normalised: the 1/E^2 weighting of the Gibbs paper's detailed account.
    Defined only for non-negative energies."""
    e = energies.double()
    if (e < 0).any():
        raise ValueError(f"inverse_power needs non-negative energies, got min {float(e.min()):.4g}")
    w = 1.0 / (e.pow(p) + eps)
    return w / w.sum()


def uniform(energies: torch.Tensor) -> torch.Tensor:
    """Equal weights: the weighted vote becomes self-consistency (majority vote)."""
    return torch.full_like(energies, 1.0 / energies.numel(), dtype=torch.float64)


WEIGHTINGS: dict[str, Callable[..., torch.Tensor]] = {
    "boltzmann": boltzmann,
    "inverse_power": inverse_power,
    "uniform": uniform,
}


@dataclass(frozen=True)
class WeightSpec:
    """A weighting by name with its parameters, e.g. ``{"name": "boltzmann", "beta": 5.0}``."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Stable method label used in outputs, e.g. ``boltzmann(beta=5.0,standardize=True)``."""
        if not self.params:
            return self.name
        args = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.name}({args})"

    @property
    def uses_energy(self) -> bool:
        return self.name != "uniform"

    def __call__(self, energies: torch.Tensor) -> torch.Tensor:
        return WEIGHTINGS[self.name](energies, **self.params)


def parse_weight_spec(node: Mapping[str, Any]) -> WeightSpec:
    """Build a WeightSpec from a config mapping, naming the bad key if there is one."""
    node = dict(node)
    name = node.pop("name", None)
    if name not in WEIGHTINGS:
        raise KeyError(f"weights: unknown name {name!r}; valid: {', '.join(sorted(WEIGHTINGS))}")
    allowed = list(inspect.signature(WEIGHTINGS[name]).parameters)[1:]
    for key in node:
        if key not in allowed:
            raise KeyError(f"weights: {name} has no parameter {key!r}; valid: {', '.join(allowed) or 'none'}")
    return WeightSpec(name, node)
