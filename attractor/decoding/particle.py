"""The one record every sampler returns for each sampled trajectory."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Particle:
    """One sampled trajectory, trimmed to its own length, with what the energies read.

    ``logprobs[t]`` is log p(token_t | prefix) under the model's raw logits (temperature 1, no
    top-k/top-p), ``entropies[t]`` the entropy of that same distribution, and ``hidden[t]`` the
    chosen layer's hidden state at the position whose logits produced token t.
    """

    token_ids: list[int]
    text: str
    logprobs: torch.Tensor
    entropies: torch.Tensor
    hidden: torch.Tensor | None = None

    @property
    def n_tokens(self) -> int:
        return len(self.token_ids)
