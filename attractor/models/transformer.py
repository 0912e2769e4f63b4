"""The standard Transformer baseline: a stack of N blocks between embedding and readout."""
from __future__ import annotations

import torch

from attractor.models.base import SequenceModel
from attractor.models.cache import DecodeCache
from attractor.models.config import TransformerConfig
from attractor.models.output import ModelOutput
from attractor.nn import BlockStack


class Transformer(SequenceModel):
    def __init__(self, cfg: TransformerConfig):
        super().__init__(cfg)
        self.blocks = BlockStack(cfg.block, cfg.n_layers)
        self.init_weights(cfg.n_layers)

    def forward(self, tokens: torch.Tensor, mode: str | None = None, return_trace: bool = False,
                state: torch.Tensor | None = None, cache: DecodeCache | None = None) -> ModelOutput:
        """``mode``, ``return_trace`` and ``state`` are accepted for a uniform interface; a stack has no
        solver and no latent to carry. ``cache``: decode incrementally (``init_cache``)."""
        x, rope = self.embed_cached(tokens, cache, "solver")
        layers = None if cache is None else cache.layers("blocks", len(self.blocks))
        return ModelOutput(self.readout(self.blocks(x, rope, layers)))
