"""FLOPs of one training step (forward and backward) of a run config, counted by torch's FlopCounterMode.

The step is the task's own ``training_step`` (deep-supervision segments, ACT, the solver's
iterations) on the run's first training batch, then ``backward``; attention runs on SDPA's math
backend so its matrix products are counted too (the fused CPU kernel has no FLOP formula). Adaptive
solvers spend a data-dependent number of iterations, so their count is of that one step at
initialisation: a measure of cost per step, not a constant (a study also reports the evaluations of
f its training steps made).
"""
from __future__ import annotations

import warnings
from typing import Any

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from attractor.tasks.config import validate_run
from attractor.tasks.harness import build_datamodule, build_module, datamodule_class


def train_step_flops(cfg: Any) -> dict[str, int]:
    """Forward + backward FLOPs of one training step of the composed run config ``cfg``, and its batch size."""
    run = validate_run(cfg, datamodule_class(cfg["task"]["name"]))
    torch.manual_seed(run.seed)
    dm, module = build_datamodule(run), build_module(run)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    counter = FlopCounterMode(display=False)
    with warnings.catch_warnings(), sdpa_kernel(SDPBackend.MATH), counter:
        warnings.simplefilter("ignore")  # self.log without a Trainer: nothing to log to, by design here
        module.training_step(batch, 0).backward()
    return {"flops_per_step": int(counter.get_total_flops()), "batch_size": int(batch["inputs"].shape[0])}
