"""What every task shares: the model, AdamW + schedule, EMA for evaluation, step timing, stat logs."""
from __future__ import annotations

import time

import lightning as L
import torch

from attractor.models import build_model
from attractor.models.output import ModelOutput
from attractor.tasks.config import Run
from attractor.tasks.ema import EMA
from attractor.tasks.optim import build_optimizer

SOLVER_STATS = ("iterations", "abs_residual", "rel_residual", "converged", "jacobian_frobenius")


class SequenceTask(L.LightningModule):
    """Base LightningModule: subclasses supply the loss (``training_step``) and validation metrics."""

    def __init__(self, run: Run):
        super().__init__()
        self.run = run
        self.save_hyperparameters({"config": run.raw})
        self.model = build_model(run.model)
        self.ema = EMA(self.model, run.optim.ema_decay) if run.optim.ema_decay > 0 else None
        self._step_started = 0.0

    def forward(self, inputs: torch.Tensor, mode: str | None = None, state: torch.Tensor | None = None) -> ModelOutput:
        return self.model(inputs, mode=mode, state=state)

    def log_train_step(self, loss: torch.Tensor, out: ModelOutput, batch_size: int, extra: dict | None = None) -> None:
        """Loss, solver statistics, peak GPU memory and whatever ``extra`` the task adds."""
        logs = {"train/loss": loss.detach(), **(extra or {})}
        logs.update({f"train/{k}": out.stats[k].float().mean() for k in SOLVER_STATS if k in out.stats})
        if torch.cuda.is_available() and out.logits.is_cuda:
            logs["perf/peak_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
        self.log_dict(logs, on_step=True, on_epoch=False, batch_size=batch_size)
        self.log("loss", loss.detach(), prog_bar=True, on_step=True, on_epoch=False, logger=False, batch_size=batch_size)

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        self._step_started = time.perf_counter()

    def on_train_batch_end(self, outputs, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """Update the EMA; log throughput of the whole step (forward, backward, optimizer)."""
        if self.ema is not None:
            self.ema.update(self.model)
        elapsed = time.perf_counter() - self._step_started
        inputs = batch["inputs"]
        samples = inputs.shape[0] * self.trainer.world_size
        self.log_dict({"perf/samples_per_s": samples / elapsed, "perf/tokens_per_s": samples * inputs.shape[1] / elapsed},
                      on_step=True, on_epoch=False, batch_size=inputs.shape[0])

    def on_validation_start(self) -> None:
        if self.ema is not None:
            self._ema_context = self.ema.applied(self.model)
            self._ema_context.__enter__()

    def on_validation_end(self) -> None:
        if self.ema is not None:
            self._ema_context.__exit__(None, None, None)

    def configure_optimizers(self) -> dict:
        return build_optimizer(self.model, self.run.optim, self.run.train.max_steps)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.ema is not None:
            checkpoint["ema_state_dict"] = self.ema.state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if self.ema is not None:
            self.ema.load_state_dict(checkpoint["ema_state_dict"])
