"""Model configs: one dataclass per model, sharing the fields that make comparisons fair."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from attractor.config import capped, require
from attractor.nn import BlockConfig
from attractor.solvers import SolverConfig


@dataclass
class ModelConfig:
    """Fields every model shares: vocabulary, width, the block's shape, positions, readout."""

    name: str = ""  # transformer | looped | attractor | trm | trm_deq (selects the class)
    vocab_size: int = 0  # tokens, PAD included
    max_len: int = 0  # longest sequence the position tables cover
    dim: int = 64  # width of every block (CPU-sized; the GPU presets set their own)
    n_heads: int = 4
    mlp_ratio: float = 4.0  # SwiGLU width as a multiple of dim (parameter-matched to a GELU MLP)
    causal: bool = False  # causal attention (language models) or bidirectional (puzzles)
    positions: Literal["rotary", "learned"] = "rotary"
    dropout: float = 0.0
    tie_embeddings: bool = True  # unembedding shares the embedding matrix
    init: Literal["gpt2", "scaled"] = "gpt2"  # gpt2: N(0, 0.02) | scaled: the reference's (models/base.py)

    def __post_init__(self) -> None:
        require(self.vocab_size > 0, "vocab_size", f"must be > 0, got {self.vocab_size}")
        require(self.max_len > 0, "max_len", f"must be > 0, got {self.max_len}")
        require(self.dim > 0, "dim", f"must be > 0, got {self.dim}")
        require(self.n_heads > 0 and self.dim % self.n_heads == 0, "n_heads", f"must divide dim={self.dim}, got {self.n_heads}")
        require(self.positions != "rotary" or (self.dim // self.n_heads) % 2 == 0, "n_heads",
                f"rotary positions need an even head dimension; dim/n_heads = {self.dim / self.n_heads}")
        require(self.mlp_ratio > 0, "mlp_ratio", f"must be > 0, got {self.mlp_ratio}")
        require(0 <= self.dropout < 1, "dropout", f"must be in [0, 1), got {self.dropout}")

    @property
    def block(self) -> BlockConfig:
        return BlockConfig(self.dim, self.n_heads, self.mlp_ratio, self.causal, self.positions == "rotary", self.dropout)


@dataclass
class TransformerConfig(ModelConfig):
    name: str = "transformer"
    n_layers: int = capped(4, "layers")  # blocks in the stack

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.n_layers >= 1, "n_layers", f"must be >= 1, got {self.n_layers}")


@dataclass
class LoopedConfig(ModelConfig):
    name: str = "looped"
    prelude_layers: int = capped(2, "layers")  # blocks before the loop; their output is injected at every loop
    core_layers: int = capped(2, "layers")  # weight-tied blocks applied `loops` times
    loops: int = 4  # loop count in training and, by default, at inference
    coda_layers: int = capped(0, "layers")  # blocks after the loop
    grad_loops: int = 0  # backpropagate through the last this many loops (0 = all: full BPTT)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.prelude_layers >= 0, "prelude_layers", f"must be >= 0, got {self.prelude_layers}")
        require(self.core_layers >= 1, "core_layers", f"must be >= 1, got {self.core_layers}")
        require(self.loops >= 1, "loops", f"must be >= 1, got {self.loops}")
        require(self.coda_layers >= 0, "coda_layers", f"must be >= 0, got {self.coda_layers}")
        require(0 <= self.grad_loops <= self.loops, "grad_loops", f"must be in [0, loops={self.loops}], got {self.grad_loops}")


@dataclass
class AttractorConfig(ModelConfig):
    name: str = "attractor"
    backbone_layers: int = capped(2, "layers")  # blocks mapping tokens to the context c
    f_layers: int = capped(2, "layers")  # blocks of the attractor map f(z, c)
    proposal: Literal["identity", "linear"] = "identity"  # z0 = c, or a learned projection of c
    proposal_weight: float = 0.0  # proposal loss mean ||z0 - sg(z*)||^2 / ||z*||^2 (0 = off; `linear` needs > 0)
    map: Literal["gated_residual", "gated_sublayers", "normed"] = "gated_residual"  # form of f, see models/attractor.py
    gate_init: float = 0.1  # initial gate(s) of the gated maps (small = contractive at init)
    gate_max: float = 1.0  # gated_sublayers: upper bound of each gate, sigmoid(.) * gate_max
    f_norm: Literal["none", "weight", "spectral"] = "none"  # normalisation of f's linear layers
    inference: str = "solver"  # default inference mode: solver | iters=N | none
    solver: SolverConfig = field(default_factory=SolverConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.backbone_layers >= 1, "backbone_layers", f"must be >= 1, got {self.backbone_layers}")
        require(self.f_layers >= 1, "f_layers", f"must be >= 1, got {self.f_layers}")
        if self.map == "gated_sublayers":
            require(self.gate_max > 0, "gate_max", f"must be > 0, got {self.gate_max}")
            require(0 < self.gate_init <= self.gate_max, "gate_init",
                    f"must be in (0, gate_max={self.gate_max}], got {self.gate_init}")
        else:
            require(self.gate_max == 1.0, "gate_max", f"only map: gated_sublayers reads it, got map: {self.map}")
            require(0 < self.gate_init < 1, "gate_init", f"must be in (0, 1), got {self.gate_init}")
        require(self.proposal_weight >= 0, "proposal_weight", f"must be >= 0, got {self.proposal_weight}")
        require(self.proposal != "linear" or self.proposal_weight > 0 or self.solver.backward == "unrolled"
                or self.solver.fp_correction > 0,
                "proposal_weight", f"must be > 0 with proposal: linear: under backward={self.solver.backward!r} "
                "z* does not depend on z0, so the proposal loss (or solver.fp_correction) is the only gradient W gets")
        require_inference_mode(self.inference)


@dataclass
class RecursiveConfig(ModelConfig):
    """What TRM and TRM-DEQ share: two latents (answer y, reasoning z), one net, T cycles per
    segment with gradients through the last, a Q-head, and the EqR-style options."""

    tie_embeddings: bool = False  # the reference's head is untied
    n_layers: int = capped(2, "layers")  # blocks of the one net (TRM-DEQ's reference: 8)
    h_cycles: int = capped(3, "cycles")  # T: cycles per forward (segment); only the last carries gradients
    mixer: Literal["attention", "mlp"] = "attention"  # mlp: token-mixing MLP over positions (TRM's mlp_t)
    latent_init: Literal["fixed", "learned", "random"] = "fixed"  # initial y, z: a fixed draw, learned, or fresh N(0, init_std^2) per start
    init_std: float = 1.0  # std of the fixed draw and of random initial latents (EqR: 1)
    init_seed: int = 0  # seed of random initial latents in evaluation (so evaluation is deterministic)
    damping: float = 1.0  # lambda of damped updates h <- (1 - lambda) h + lambda net(.) (EqR: 0.95; 1 = off)
    noise_std: float = 0.0  # Gaussian noise added to every latent update in training (EqR: 0.01)
    eval_noise: bool = False  # keep that noise at evaluation too
    inference: str = "solver"  # default inference mode (see the model's docstring)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.n_layers >= 1, "n_layers", f"must be >= 1, got {self.n_layers}")
        require(self.h_cycles >= 1, "h_cycles", f"must be >= 1, got {self.h_cycles}")
        require(not self.causal, "causal", "the recursive reasoners are bidirectional puzzle models")
        require(self.init_std > 0, "init_std", f"must be > 0, got {self.init_std}")
        require(0 < self.damping <= 1, "damping", f"must be in (0, 1], got {self.damping}")
        require(self.noise_std >= 0, "noise_std", f"must be >= 0, got {self.noise_std}")
        require(not self.eval_noise or self.noise_std > 0, "eval_noise", "needs noise_std > 0")
        require_inference_mode(self.inference)


@dataclass
class TRMConfig(RecursiveConfig):
    name: str = "trm"
    l_cycles: int = capped(6, "cycles")  # n: reasoning updates z <- net(z + y + x) per cycle

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.l_cycles >= 1, "l_cycles", f"must be >= 1, got {self.l_cycles}")


@dataclass
class TRMDEQConfig(RecursiveConfig):
    name: str = "trm_deq"
    solver: SolverConfig = field(default_factory=SolverConfig)  # the z solve of every cycle

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.solver.jac_reg_weight == 0, "solver.jac_reg_weight",
                "the Jacobian penalty is not wired into trm_deq (the reference's long runs all used 0); "
                "use solver=last_k (the published recipe) or solver.jac_reg_weight=0")
        require(self.solver.fp_correction == 0, "solver.fp_correction",
                "fixed-point correction reads out the attractor's latent; trm_deq's z is not read out")


_ITERS = re.compile(r"iters=(\d+)")


def require_inference_mode(mode: str, key: str = "inference") -> None:
    """``parse_inference_mode`` as a config check: a ``ConfigError`` naming ``key``."""
    try:
        parse_inference_mode(mode)
    except ValueError as err:
        require(False, key, str(err))


def parse_inference_mode(mode: str) -> int | None | str:
    """'solver' -> None (adaptive), 'iters=N' -> N, 'none' -> 'none' (solver removed)."""
    if mode in ("solver", "none"):
        return None if mode == "solver" else "none"
    match = _ITERS.fullmatch(mode) if isinstance(mode, str) else None
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"inference mode {mode!r} is not one of 'solver', 'none', 'iters=N' with N >= 1")
    return int(match.group(1))
