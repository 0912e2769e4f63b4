"""The standard Transformer baseline: a stack of N blocks between embedding and readout.

Inference modes: ``solver`` (every block), ``iters=N`` (an early exit: the first N blocks, read out
through the same final norm and head), ``none`` (no block). The early exit is the control of the
attractor's solver-removed readout: a 2+2 attractor without its solver runs its first 2 blocks, as
a 4-block transformer does at ``iters=2`` (``docs/models.md``, internalization).
"""
from __future__ import annotations

import torch

from attractor.models.base import SequenceModel
from attractor.models.cache import DecodeCache
from attractor.models.config import TransformerConfig, parse_inference_mode
from attractor.models.output import ModelOutput
from attractor.nn import BlockStack


class Transformer(SequenceModel):
    def __init__(self, cfg: TransformerConfig):
        super().__init__(cfg)
        self.blocks = BlockStack(cfg.block, cfg.n_layers)
        self.init_weights(cfg.n_layers)

    def forward(self, tokens: torch.Tensor, mode: str | None = None, return_trace: bool = False,
                state: torch.Tensor | None = None, cache: DecodeCache | None = None) -> ModelOutput:
        """``mode``: every block (``solver``), the first N (``iters=N``) or none. ``return_trace`` and
        ``state`` are accepted for a uniform interface; a stack has no solver and no latent to carry.
        ``cache``: decode incrementally (``init_cache``)."""
        parsed = parse_inference_mode(mode or "solver")
        first = None if parsed is None else (0 if parsed == "none" else parsed)
        if first is not None and first > len(self.blocks):
            raise ValueError(f"inference mode {mode!r}: an early exit after {first} blocks, but the stack has "
                             f"{len(self.blocks)} (model.n_layers)")
        x, rope = self.embed_cached(tokens, cache, mode or "solver")
        layers = None if cache is None else cache.layers("blocks", len(self.blocks))
        return ModelOutput(self.readout(self.blocks(x, rope, layers, first=first)))
