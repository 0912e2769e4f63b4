"""The state of one incremental decode: every attention layer's keys and values, and the positions seen.

The three causal models share it: ``cache = model.init_cache()``, then ``model(tokens, cache=cache)``
with the prompt, then with each new token (B, 1); each call returns the logits of the new positions
only. Stacks ask for their layers by name (``cache.layers("backbone", 2)``), so each model lays out
its own cache (the looped model has one per loop of its core) without a class per model.
"""
from __future__ import annotations

import torch

from attractor.nn import KVCache


class DecodeCache:
    """Per-layer key/value caches of one decode, by stack name; ``length``: positions already seen."""

    def __init__(self) -> None:
        self.stacks: dict[str, list[KVCache]] = {}
        self.length = 0
        self.mode: str | None = None

    def layers(self, name: str, n_layers: int) -> list[KVCache]:
        """The caches of stack ``name``, created empty on first use (``begin`` refuses a change of mode,
        so a stack first used after the first call cannot happen)."""
        if name not in self.stacks:
            self.stacks[name] = [KVCache() for _ in range(n_layers)]
        return self.stacks[name]

    def begin(self, mode: str, new_positions: int, max_len: int) -> int:
        """Check a call in ``mode`` on ``new_positions`` more positions fits; returns the position offset."""
        if self.mode is None:
            self.mode = mode
        elif mode != self.mode:
            raise ValueError(f"cache was filled in mode {self.mode!r}, called in mode {mode!r}: start a new cache")
        if self.length + new_positions > max_len:
            raise ValueError(f"cache of {self.length} positions + {new_positions} new exceeds model max_len={max_len}")
        return self.length

    def select(self, rows: torch.Tensor) -> None:
        """Keep (or repeat) batch rows in every layer: K particles from one prompt, finished rows out."""
        for stack in self.stacks.values():
            for layer in stack:
                layer.select(rows)
