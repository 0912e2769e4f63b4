"""The one record every sampler returns for each sampled trajectory."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Particle:
    """One sampled trajectory, trimmed to its own length, with what the energies read.

    ``logprobs[t]`` is log p(token_t | prefix) under the model's raw logits (temperature 1, no
    top-k/top-p), ``entropies[t]`` the entropy of that same distribution, and ``hidden[t]`` the
    chosen layer's hidden state at the position whose logits produced token t. ``confidences[t]`` is
    DeepConf's token confidence of that distribution (see ``samplers.token_stats``); ``solver`` holds
    per-token solver statistics (``iterations``, ``rel_residual``: (T,)) when the model reports them.
    """

    token_ids: list[int]
    text: str
    logprobs: torch.Tensor
    entropies: torch.Tensor
    hidden: torch.Tensor | None = None
    confidences: torch.Tensor | None = None
    solver: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def n_tokens(self) -> int:
        return len(self.token_ids)
