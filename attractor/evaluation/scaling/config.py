"""The options of a scaling run: the ``scaling`` config group, whose defaults are these fields
(``configs/scaling/*.yaml`` state only what they change; ``attractor.compose``)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from attractor.config import ConfigError, require
from attractor.evaluation.scaling.energies import ENERGIES, UNIVERSAL_ENERGIES
from attractor.evaluation.scaling.particles import Halting, NoiseConfig
from attractor.evaluation.scaling.select import methods
from attractor.particles.weights import WeightSpec, parse_weight_spec


@dataclass
class ScalingConfig:
    """Every option of a scaling run (the `scaling` config group)."""

    depths: list = field(default_factory=lambda: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, "halt"])
    # iteration budgets of the single-trajectory depth sweep ("halt": adaptive, attractor only)
    ks: list = field(default_factory=lambda: [1, 2, 4, 8, 16])  # particles per puzzle (prefixes of the largest)
    breadth_depths: list = field(default_factory=lambda: [16, "halt"])  # iteration budget of each particle
    halt_tol: float = 1e-4  # adaptive halting: residual (the checkpoint's stop mode) below this
    halt_max_iter: int = 1000  # adaptive halting: most evaluations of f
    noise: NoiseConfig = field(default_factory=NoiseConfig)  # how the K initial states differ
    include_proposal: bool = True  # particle 0 is the unperturbed proposal (so K = 1 is the model itself)
    energies: list = field(default_factory=lambda: list(UNIVERSAL_ENERGIES))  # see scaling/energies.py (+ q_halt: trm, trm_deq)
    weights: list = field(default_factory=lambda: [{"name": "boltzmann", "beta": 1.0, "standardize": True},
                                                   {"name": "inverse_power", "p": 2.0}, {"name": "uniform"}])
    power_iters: int = 20  # power-iteration steps of the spectral radius
    probes: int = 4  # Hutchinson probes of the Frobenius estimate
    max_batch: int = 2048  # most particles solved together
    seed: int = 0  # seed of the initial-state noise
    plot_methods: list = field(default_factory=list)  # method labels drawn in the equal-compute plot ([]: all)
    weightings: list[WeightSpec] = field(init=False)

    def __post_init__(self) -> None:
        for key in ("depths", "breadth_depths"):
            bad = [d for d in getattr(self, key) if d != "halt" and not (isinstance(d, int) and d >= 1)]
            require(not bad, key, f"entries must be integers >= 1 or 'halt', got {bad}")
        require(all(isinstance(k, int) and k >= 1 for k in self.ks) and self.ks, "ks",
                f"must be a non-empty list of integers >= 1, got {self.ks}")
        self.ks = sorted(set(self.ks))
        bad = [e for e in self.energies if e not in ENERGIES]
        require(not bad, "energies", f"unknown {bad}; valid: {list(ENERGIES)}")
        require(self.halt_tol > 0, "halt_tol", f"must be > 0, got {self.halt_tol}")
        for key in ("halt_max_iter", "power_iters", "probes", "max_batch"):
            require(getattr(self, key) >= 1, key, f"must be >= 1, got {getattr(self, key)}")
        try:
            self.weightings = [parse_weight_spec(w) for w in self.weights]
        except KeyError as err:
            raise ConfigError("weights", str(err.args[0])) from None
        labels = [m.label for m in methods(self.energies, self.weightings)]
        unknown = [m for m in self.plot_methods if m not in labels]
        require(not unknown, "plot_methods", f"{unknown} are not methods of this config; valid: {labels}")

    @property
    def halting(self) -> Halting:
        return Halting(self.halt_tol, self.halt_max_iter)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("weightings")
        return d
