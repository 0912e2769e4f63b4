"""Checks that a training path did what it claims: the loss fell, validation scored the averaged
weights, and a checkpoint gives back the same model. Used by the trust and preset tests and by
``benchmarks/trust_matrix.py``, which runs every preset through them (not part of the package:
nothing a user runs needs them)."""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback

from attractor.evaluation.checkpoint import load_checkpoint
from attractor.evaluation.puzzle import sweep_modes
from attractor.tasks.config import Run
from attractor.tasks.harness import TrainResult, build_datamodule, compile_blocks, train


class LossHistory(Callback):
    """The training loss of every step, and the wall time of the fit loop."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.seconds = 0.0

    def on_train_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))

    def on_train_end(self, trainer, pl_module) -> None:
        self.seconds = time.perf_counter() - self.start


class ValidationWeights(Callback):
    """The model's weights as the last validation saw them (EMA swapped in, if any)."""

    weights: dict[str, torch.Tensor] | None = None

    def on_validation_batch_start(self, trainer, pl_module, *args) -> None:
        self.weights = {k: v.detach().clone() for k, v in pl_module.model.state_dict().items()}


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k].to(a[k].device)) for k in a)


@torch.no_grad()
def roundtrip_equal(run: Run, result: TrainResult) -> dict[str, bool]:
    """Per inference mode: do the logits of the trained model and of the one loaded back from its
    last checkpoint (raw weights, compiled alike) agree bit for bit on a validation batch?"""
    loaded = load_checkpoint(result.last_checkpoint, "raw").model
    if run.train.compile:
        compile_blocks(loaded)
    dm = build_datamodule(run)
    dm.setup("validate")
    inputs = next(iter(dm.val_dataloader()))["inputs"][:4]
    model = result.model.eval()
    device = next(model.parameters()).device
    loaded.to(device)
    return {mode: torch.equal(model(inputs.to(device), mode=mode).logits, loaded(inputs.to(device), mode=mode).logits)
            for mode in sweep_modes(run.model.name)}


def probe_training(run: Run, run_dir: str | Path) -> dict[str, Any]:
    """Train ``run`` and report what the trust matrix records for it (on rank 0; None elsewhere)."""
    history, seen = LossHistory(), ValidationWeights()
    result = train(run, run_dir, [history, seen])
    if not result.metrics:
        return {}
    ema = run.optim.ema_decay > 0
    averaged = load_checkpoint(result.last_checkpoint).model.state_dict() if ema else None
    raw = result.model.state_dict()
    roundtrip = roundtrip_equal(run, result)
    return {
        "steps": result.metrics["steps"], "steps_per_s": result.metrics["steps"] / history.seconds,
        "first_loss": history.losses[0], "last_loss": history.losses[-1],
        "loss_fell": sum(history.losses[-3:]) < sum(history.losses[:3]),
        "finite": all(map(math.isfinite, history.losses)),
        "skipped_steps": result.metrics["skipped_steps"],
        # EMA runs: validation scored the average (not the raw weights), and the average moved.
        "averaged_weights_used": (same_weights(averaged, seen.weights) and not same_weights(raw, seen.weights)
                                  ) if ema else None,
        "roundtrip_equal": all(roundtrip.values()), "roundtrip_modes": roundtrip,
        "last_checkpoint": str(result.last_checkpoint),
    }
