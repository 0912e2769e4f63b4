"""The decoding run's settings: one dataclass, read from ``configs/decode/*.yaml``."""
from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from attractor.decoding.answers import EXTRACTION_MODES
from attractor.decoding.energies import get_energy
from attractor.decoding.samplers import SamplingParams
from attractor.particles.weights import WeightSpec, parse_weight_spec


@dataclass
class DecodeConfig:
    """Every option of a decoding run, documented once here."""

    k: int = 8
    """Particles (sampled trajectories) per question."""
    temperature: float = 1.0
    """Sampling temperature of the particles (the energies always use the raw logits)."""
    top_p: float = 1.0
    """Nucleus sampling threshold; 1 turns it off."""
    top_k: int = 0
    """Top-k sampling; 0 turns it off."""
    max_new_tokens: int = 256
    """Longest trajectory."""
    stop: list[str] = field(default_factory=list)
    """Strings that end a trajectory (e.g. the start of the next few-shot question)."""
    energies: list[str] = field(default_factory=lambda: ["nll", "token_entropy", "psd_spectral_entropy"])
    """Energies computed for every particle (see ``attractor.decoding.energies.ENERGIES``)."""
    weights: list[WeightSpec] = field(default_factory=lambda: [WeightSpec("inverse_power", {"p": 2.0}), WeightSpec("uniform")])
    """Gibbs weightings; each energy-using one is crossed with every energy."""
    extraction: str = "strict_then_flexible"
    """Answer extraction: ``strict``, ``flexible`` (last number) or ``strict_then_flexible``."""
    few_shot: int = 0
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

    @classmethod
    def from_mapping(cls, node: Mapping[str, Any], source: str = "config") -> DecodeConfig:
        """Build from a mapping, naming any key that is not an option."""
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(node) - valid)
        if unknown:
            raise KeyError(f"{source}: unknown option(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid))}")
        return cls(**node)


def load_config(path: str | Path, **overrides: Any) -> DecodeConfig:
    """Read a YAML decode config and apply keyword overrides on top."""
    path = Path(path)
    node = yaml.safe_load(path.read_text()) or {}
    if not isinstance(node, dict):
        raise ValueError(f"{path}: expected a mapping of options")
    return DecodeConfig.from_mapping({**node, **overrides}, source=str(path))


def add_arguments(parser: argparse.ArgumentParser, default_config: str) -> None:
    """``--config`` (a YAML file of options) and ``--set KEY=VALUE`` (options over it)."""
    parser.add_argument("--config", default=default_config)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config options")


def from_arguments(args: argparse.Namespace) -> DecodeConfig:
    """The DecodeConfig of the options :func:`add_arguments` added."""
    overrides = {}
    for pair in args.set:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        overrides[key] = yaml.safe_load(value)
    return load_config(args.config, **overrides)
