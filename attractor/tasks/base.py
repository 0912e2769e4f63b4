"""What every task shares: the model, AdamW + schedule, step timing, stat and solve-health logs,
skipped steps, the backward warm-up.

The EMA of the weights is Lightning's callback (:mod:`attractor.tasks.ema`), added by the harness.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_warn

from attractor.models import build_model
from attractor.models.output import ModelOutput
from attractor.solvers.health import HealthTally, concat_rows, summarise_health
from attractor.tasks.config import Run
from attractor.tasks.optim import build_optimizer

SOLVER_STATS = ("iterations", "abs_residual", "rel_residual", "converged", "diverged", "jacobian_frobenius")


class SequenceTask(L.LightningModule):
    """Base LightningModule: subclasses supply the loss (``training_step``) and validation metrics."""

    def __init__(self, run: Run):
        super().__init__()
        self.run = run
        self.save_hyperparameters({"config": run.raw})
        self.model = build_model(run.model)
        self._step_started = 0.0
        self._train_time_s = self._train_cpu_s = 0.0  # steps only, across resumes: the x axes of loss against time
        self.skipped_steps = 0
        self._diverged = False
        self._solver_cfg = getattr(self.model.cfg, "solver", None)  # the trained config; warm-up swaps it per step
        self._val_health = HealthTally()

    def forward(self, inputs: torch.Tensor, mode: str | None = None, state: torch.Tensor | None = None) -> ModelOutput:
        return self.model(inputs, mode=mode, state=state)

    def log_train_step(self, loss: torch.Tensor, outputs: Sequence[ModelOutput], batch_size: int,
                       extra: dict | None = None) -> None:
        """Loss, solver statistics of the last output, peak GPU memory and whatever ``extra`` the task
        adds. A solve that went non-finite in any of ``outputs`` marks the step to be skipped."""
        self._diverged = any(bool(o.stats["diverged"].any()) for o in outputs if "diverged" in o.stats)
        out = outputs[-1]
        logs = {"train/loss": loss.detach(), **(extra or {})}
        logs.update({f"train/{k}": out.stats[k].float().mean() for k in SOLVER_STATS if k in out.stats})
        rows = concat_rows([o.solve for o in outputs])
        if rows is not None:  # every segment's solves: the health of the rows this step trained on
            health = summarise_health(rows)
            logs.update({f"train/solve/{k}": v for k, v in health.items()})
            self.log("conv", health["converged_frac"], prog_bar=True, on_step=True, on_epoch=False, logger=False,
                     batch_size=batch_size)
        if torch.cuda.is_available() and out.logits.is_cuda:
            logs["perf/peak_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
        self.log_dict(logs, on_step=True, on_epoch=False, batch_size=batch_size)
        self.log("loss", loss.detach(), prog_bar=True, on_step=True, on_epoch=False, logger=False, batch_size=batch_size)

    def supervised(self, out: ModelOutput, loss_fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``loss_fn(out.logits)`` plus, under fixed-point correction, ``solver.fp_correction_weight``
        x the mean of ``loss_fn`` over the logits read out at the solve's intermediate iterates."""
        loss = loss_fn(out.logits)
        if out.corrections:
            weight = self._solver_cfg.fp_correction_weight
            loss = loss + weight * sum(loss_fn(logits) for logits in out.corrections) / len(out.corrections)
        return loss

    def tally_validation(self, out: ModelOutput) -> None:
        """Add a validation batch's solves to the epoch's solve health (logged at the epoch's end)."""
        self._val_health.add(out.solve)

    def on_validation_epoch_start(self) -> None:
        self._val_health = HealthTally()

    def on_validation_epoch_end(self) -> None:
        """``val/solve/*``: the solve health over every validation row (exact quantiles, not a mean
        of per-batch figures). Each rank validates the whole split, so no gathering is needed."""
        health = self._val_health.summary()
        if health is not None:
            self.log_dict({f"val/solve/{k}": float(v) for k, v in health.items() if k != "rows"}, on_epoch=True)

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        """Seed the step's random draws (dropout, the Jacobian penalty's probes and schedule) by
        (seed, step, rank): a resumed run draws exactly what an uninterrupted one would, with no
        generator state in the checkpoint, like the batches themselves."""
        seed = int(np.random.SeedSequence([self.run.seed, self.global_step, self.global_rank]).generate_state(1)[0])
        torch.manual_seed(seed)
        random.seed(seed)
        if self._solver_cfg is not None and self._solver_cfg.backward_warmup_steps:
            self.model.cfg.solver = self._solver_cfg.at_step(self.global_step)
        self._step_started, self._step_cpu_started = time.perf_counter(), time.process_time()

    def on_train_batch_end(self, outputs, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """Log throughput of the whole step (forward, backward, optimizer) and the training time so far,
        wall and process CPU (steps only, validation excluded; carried over a resume by the checkpoint):
        loss against time, and comparisons at equal CPU time on a shared machine."""
        elapsed = time.perf_counter() - self._step_started
        self._train_time_s += elapsed
        self._train_cpu_s += time.process_time() - self._step_cpu_started
        inputs = batch["inputs"]
        samples = inputs.shape[0] * self.trainer.world_size
        self.log_dict({"perf/samples_per_s": samples / elapsed, "perf/tokens_per_s": samples * inputs.shape[1] / elapsed,
                       "perf/train_time_s": self._train_time_s, "perf/train_cpu_time_s": self._train_cpu_s},
                      on_step=True, on_epoch=False, batch_size=inputs.shape[0])

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["train_clock"] = {"wall_s": self._train_time_s, "cpu_s": self._train_cpu_s}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        clock = checkpoint.get("train_clock", {})
        self._train_time_s, self._train_cpu_s = clock.get("wall_s", 0.0), clock.get("cpu_s", 0.0)

    def configure_optimizers(self) -> dict:
        return build_optimizer(self.model, self.run.optim, self.run.train.max_steps)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Skip a step whose solve diverged (on any rank) or whose gradients are not finite: dropping
        every gradient makes AdamW leave the weights and its moments untouched, so no NaN and no
        step on a garbage gradient reaches the parameters or their average. Logged as
        ``train/skipped_step``; counted in ``skipped_steps``."""
        norms = [p.grad.detach().float().norm() for p in self.parameters() if p.grad is not None]
        finite = not norms or bool(torch.isfinite(torch.stack(norms)).all())
        flag = torch.tensor(float(self._diverged), device=self.device)
        diverged = bool(self.trainer.strategy.reduce(flag, reduce_op="max") > 0)
        skip = diverged or not finite
        if skip:
            optimizer.zero_grad(set_to_none=True)
            self.skipped_steps += 1
            reason = "the solve diverged" if diverged else "non-finite gradients"
            rank_zero_warn(f"step {self.global_step}: {reason}, step skipped")
        self.log("train/skipped_step", float(skip), on_step=True, on_epoch=False, batch_size=1)
