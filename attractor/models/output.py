"""The one return type every model shares."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class ModelOutput:
    """Logits (B, T, vocab) and per-sample solver statistics (empty for models without a solver).

    ``stats`` keys for the attractor: ``iterations`` (B,) (evaluations of f), ``abs_residual`` (B,),
    ``rel_residual`` (B,), ``converged`` (B,) bool, ``diverged`` (B,) bool (the solve went non-finite),
    and ``residual_trace`` (B, N) when asked for. ``aux_loss`` is a scalar regulariser the training
    loss must add (the Jacobian penalty and the proposal loss), or None. ``state`` is the final
    latent (detached), which deep supervision passes back as the next segment's starting point.
    ``solve``: per solver row (a sample, or a sample-position of a causal model) figures of the
    model's solves (``attractor.solvers.health``), None without a solve. ``corrections``: logits read
    out at intermediate iterates of the solve (fixed-point correction, training only), for the task
    loss to supervise.
    """

    logits: torch.Tensor
    stats: dict[str, torch.Tensor] = field(default_factory=dict)
    aux_loss: torch.Tensor | None = None
    state: torch.Tensor | None = None
    solve: dict[str, torch.Tensor] | None = None
    corrections: list[torch.Tensor] = field(default_factory=list)
