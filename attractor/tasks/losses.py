"""Token losses of the puzzle task: softmax cross-entropy, or the stablemax cross-entropy of the
HRM / TRM / EqR recipes.

Stablemax replaces exp in the softmax by s(x) = x + 1 for x >= 0 and 1 / (1 - x) for x < 0: it
grows linearly instead of exponentially, so long recursive training does not push logits into the
regime where softmax saturates (computed in float64, as the reference does).
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

LossKind = Literal["cross_entropy", "stablemax"]


def stablemax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """s(x) / sum s(x) along ``dim``."""
    x = logits.double()
    s = torch.where(x >= 0, x + 1, 1 / (1 - torch.clamp(x, max=0)))
    return s / s.sum(dim=dim, keepdim=True)


def token_losses(logits: torch.Tensor, labels: torch.Tensor, kind: LossKind, ignore_index: int = 0) -> torch.Tensor:
    """Per-token loss (same shape as ``labels``), 0 where the label is ``ignore_index``."""
    flat, target = logits.flatten(0, -2), labels.flatten()
    if kind == "cross_entropy":
        loss = F.cross_entropy(flat.float(), target, ignore_index=ignore_index, reduction="none")
    elif kind == "stablemax":
        keep = target != ignore_index
        picked = stablemax(flat).gather(1, torch.where(keep, target, 0)[:, None])[:, 0]
        loss = torch.where(keep, -torch.log(picked), 0.0).float()
    else:
        raise ValueError(f"loss kind {kind!r} is not one of 'cross_entropy', 'stablemax'")
    return loss.view(labels.shape)


def mean_token_loss(logits: torch.Tensor, labels: torch.Tensor, kind: LossKind, ignore_index: int = 0) -> torch.Tensor:
    """Mean over every labelled token of the batch."""
    if kind == "cross_entropy":  # the library's fused reduction
        return F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=ignore_index)
    counted = (labels != ignore_index).sum().clamp(min=1)
    return token_losses(logits, labels, kind, ignore_index).sum() / counted


def per_sample_loss(logits: torch.Tensor, labels: torch.Tensor, kind: LossKind, ignore_index: int = 0) -> torch.Tensor:
    """(B,): each sample's mean over its labelled tokens (ACT weighs samples, not tokens)."""
    counted = (labels != ignore_index).sum(dim=1).clamp(min=1)
    return token_losses(logits, labels, kind, ignore_index).sum(dim=1) / counted
