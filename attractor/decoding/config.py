"""The decoding run's settings: one dataclass, whose fields are the ``decode`` config group's defaults
(``configs/decode/*.yaml`` state only what they change; ``attractor.compose``)."""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from attractor.decoding.answers import EXTRACTION_MODES
from attractor.decoding.energies import get_energy
from attractor.decoding.samplers import SamplingParams
from attractor.particles.weights import WeightSpec, parse_weight_spec


@dataclass
class DecodeConfig:
    """Every option of a decoding run, documented once here."""

    k: int = 12
    """Particles (sampled trajectories) per question (the Gibbs paper's K)."""
    temperature: float = 1.0
    """Sampling temperature of the particles (the energies always use the raw logits)."""
    top_p: float = 1.0
    """Nucleus sampling threshold; 1 turns it off."""
    top_k: int = 0
    """Top-k sampling; 0 turns it off."""
    max_new_tokens: int = 256
    """Longest trajectory."""
    stop: list[str] = field(default_factory=lambda: ["\n\nQuestion:", "\nQuestion:"])
    """Strings that end a trajectory (here: the start of the next few-shot question)."""
    energies: list[str] = field(default_factory=lambda: ["nll", "token_entropy", "psd_spectral_entropy"])
    """Energies computed for every particle (see ``attractor.decoding.energies.ENERGIES``)."""
    weights: list[WeightSpec] = field(default_factory=lambda: [
        {"name": "inverse_power", "p": 2.0}, {"name": "boltzmann", "beta": 1.0, "standardize": True},
        {"name": "boltzmann", "beta": 5.0}, {"name": "uniform"}])
    """Gibbs weightings (1/E^2: the paper's detailed account; uniform: majority vote); each
    energy-using one is crossed with every energy."""
    extraction: str = "strict_then_flexible"
    """Answer extraction: ``strict``, ``flexible`` (last number) or ``strict_then_flexible``."""
    few_shot: int = 4
    """Solved examples placed before each question."""
    greedy: bool = True
    """Also decode each question greedily (one more trajectory) for the greedy baseline."""
    questions_per_batch: int = 1
    """Questions sampled together (each with K particles) in one batched call."""
    confidence_window: int = 8
    """Tokens per sliding window of DeepConf's lowest-window confidence (the ``deepconf`` vote)."""
    hidden_module: str | None = None
    """Module whose output is hooked for ``hidden_svd_entropy`` (e.g. ``model.layers.15``)."""
    seed: int = 0
    """Seed of the sampling RNG."""

    def __post_init__(self) -> None:
        self.weights = [w if isinstance(w, WeightSpec) else parse_weight_spec(w) for w in self.weights]
        for name in self.energies:
            try:
                get_energy(name)
            except KeyError as e:
                raise KeyError(f"energies: {e.args[0]}") from None
        if self.extraction not in EXTRACTION_MODES:
            raise ValueError(f"extraction: unknown mode {self.extraction!r}; valid: {', '.join(EXTRACTION_MODES)}")
        for key in ("k", "questions_per_batch", "confidence_window"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.few_shot < 0:
            raise ValueError(f"few_shot must be >= 0, got {self.few_shot}")
        if "hidden_svd_entropy" in self.energies and self.hidden_module is None:
            raise ValueError("energies: hidden_svd_entropy needs hidden_module (the layer to hook)")
        self.sampling()  # validates the sampling fields

    def sampling(self) -> SamplingParams:
        return SamplingParams(self.temperature, self.top_p, self.top_k, self.max_new_tokens, tuple(self.stop))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["weights"] = [{"name": w.name, **w.params} for w in self.weights]
        return d


def add_arguments(parser: argparse.ArgumentParser, default_config: str) -> None:
    """``--config NAME`` (an option of the ``decode`` group) and ``--set KEY=VALUE`` (Hydra overrides
    of its keys); ``attractor.compose.group_config`` composes them."""
    parser.add_argument("--config", default=default_config, help="configs/decode/NAME.yaml")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config options")
