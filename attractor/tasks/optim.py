"""AdamW with decoupled weight decay on matrices only, linear warm-up, then cosine or constant."""
from __future__ import annotations

import math

import torch
from torch import nn

from attractor.tasks.config import OptimConfig


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Decay weight matrices; leave norms, gates, biases, embeddings and weight-norm gains undecayed.

    Weight normalisation stores a matrix as a gain g of shape (out, 1) (``original0``) times a
    direction (``original1``): g is a per-row scale, not a matrix, though it has two dimensions.
    """
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_gain = name.endswith("parametrizations.weight.original0") and p.shape[-1] == 1
        is_matrix = p.dim() >= 2 and not is_gain and "embedding" not in name and "position" not in name
        (decay if is_matrix else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_factor(step: int, cfg: OptimConfig, max_steps: int) -> float:
    """Multiplier of the base learning rate at ``step``."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return 1.0
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, max_steps - cfg.warmup_steps))
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_optimizer(model: nn.Module, cfg: OptimConfig, max_steps: int) -> dict:
    """Lightning's optimizer dict: AdamW and a per-step LambdaLR."""
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, cfg, max_steps))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
