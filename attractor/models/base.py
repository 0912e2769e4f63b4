"""What every model shares: token embedding, positions, final norm and unembedding, initialisation.

Keeping these in one place is what makes the five models comparable: they differ only in how the
blocks between ``embed`` and ``readout`` are applied.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from attractor.models.cache import DecodeCache
from attractor.models.config import ModelConfig
from attractor.nn import RMSNorm, Rotary


class SequenceModel(nn.Module):
    """Base class: ``embed`` tokens, let the subclass transform them, ``readout`` logits.

    ``carries_state``: whether a forward started from the previous forward's ``state`` computes
    something new (a deep-supervision segment). A stack has no latent to carry, and a converged
    solve restarted at its own fixed point with the same context returns the same fixed point.
    """

    carries_state = False

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.rotary = Rotary(cfg.dim // cfg.n_heads, cfg.max_len) if cfg.positions == "rotary" else None
        self.position = nn.Embedding(cfg.max_len, cfg.dim) if cfg.positions == "learned" else None
        self.final_norm = RMSNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.head.weight = self.embedding.weight

    def embed(self, tokens: torch.Tensor,
              offset: int = 0) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """Token (and learned position) embeddings, plus the rotary tables for the blocks; ``offset``:
        the position of the first token (positions already in a decode cache)."""
        if tokens.dim() != 2 or tokens.dtype != torch.long:
            raise ValueError(f"tokens must be a LongTensor (B, T), got {tuple(tokens.shape)} {tokens.dtype}")
        seq_len = tokens.shape[1]
        if offset + seq_len > self.cfg.max_len:
            raise ValueError(f"sequence length {offset + seq_len} exceeds model max_len={self.cfg.max_len}")
        x = self.embedding(tokens)
        if self.position is not None:
            x = x + self.position(torch.arange(offset, offset + seq_len, device=tokens.device))
        rope = self.rotary(seq_len, offset) if self.rotary is not None else None
        return x, rope

    def init_cache(self) -> DecodeCache:
        """An empty key/value cache for incremental decoding: ``model(prompt, cache=cache)``, then
        ``model(next_tokens, cache=cache)``, each call returning the logits of its new positions."""
        if not self.cfg.causal:
            raise ValueError("incremental decoding needs a causal model (model.causal: false here)")
        return DecodeCache()

    def embed_cached(self, tokens: torch.Tensor, cache: DecodeCache | None, mode: str):
        """``embed`` at the cache's next position (0 without a cache), after checking the cache takes
        these tokens in this mode; advances the cache's length, so call it once per forward."""
        offset = 0 if cache is None else cache.begin(mode, tokens.shape[1], self.cfg.max_len)
        out = self.embed(tokens, offset)
        if cache is not None:
            cache.length += tokens.shape[1]
        return out

    def readout(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.final_norm(z))

    def init_weights(self, depth: int) -> None:
        """``cfg.init``, over ``depth`` blocks (every model offers both, so a comparison can tune it alike):
        ``gpt2``: N(0, 0.02), residual output projections (attention out, MLP down) divided by
        sqrt(2 * depth); ``scaled``, the reference code's (after Le Scao et al.): every matrix, the
        embedding included, truncated N(0, 2 / (5 dim)) at 3 sigma, output projections also divided by
        sqrt(2 * depth). At width 64 the embedding std is 0.078 against 0.02, so the tied readout starts
        with logits four times larger. Gates, norms and biases keep their own init."""
        base = 0.02 if self.cfg.init == "gpt2" else math.sqrt(2 / (5 * self.cfg.dim))
        for name, p in self.named_parameters():
            if p.dim() < 2:
                continue
            std = base / math.sqrt(2 * depth) if name.endswith(("attn.out.weight", "mlp.down.weight")) else base
            if self.cfg.init == "gpt2":
                nn.init.normal_(p, mean=0.0, std=std)
            else:
                nn.init.trunc_normal_(p, mean=0.0, std=std, a=-3 * std, b=3 * std)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
