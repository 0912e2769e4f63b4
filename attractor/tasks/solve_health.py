"""The solve-health callback: watch whether the solve reaches its fixed point, recover from divergence.

On by default for models with a solver (``train.solve_health``). It reads the ``train/solve/*`` and
``val/solve/*`` figures the task logs (:mod:`attractor.solvers.health`) and

- warns once when the validation converged fraction falls under ``warn_below``: the run is then a
  truncated unroll more than an attractor;
- on divergence (diverged rows on ``diverged_steps`` consecutive steps, or a non-finite loss)
  restores the last good state and multiplies the learning rate by ``lr_factor``, up to
  ``max_recoveries`` times; then stops with :class:`SolveDivergedError`, naming the step, the
  residual and what to try.

The last good state is the model's weights, the optimizer's state and the EMA average, copied to
host memory at train start and after each validation that followed no divergent step (cheaper
than a checkpoint file, and exact). The learning-rate reduction lives in the optimizer and the
scheduler's base rates, so checkpoints carry it; the events and counters are the callback's state,
saved in checkpoints too, so a resumed run reports the whole history.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, WeightAveraging
from lightning.pytorch.utilities import rank_zero_warn

from attractor.tasks.config import SolveHealthConfig

ADVICE = ("try a lower optim.lr, solver.adjoint_clip=true (neumann, implicit), solver.jac_reg_weight > 0 "
          "(a contractive map), solver.backward_warmup, more solver.max_iter, or solver.tau < 1 (damping)")


class SolveDivergedError(RuntimeError):
    """The solve kept diverging after every recovery the config allows."""


def _cpu_copy(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict's tensors copied to host memory."""
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


class SolveHealth(Callback):
    def __init__(self, cfg: SolveHealthConfig):
        self.cfg = cfg
        self.events: list[dict[str, Any]] = []
        self.recoveries = 0
        self.warned = False
        self._streak = 0
        self._clean = True  # no divergent step since the last snapshot
        self._snapshot: dict[str, Any] | None = None
        self._step = 0

    # --- the last good state -------------------------------------------------------------------
    def _averager(self, trainer: L.Trainer) -> WeightAveraging | None:
        return next((c for c in trainer.callbacks if isinstance(c, WeightAveraging)), None)

    def _take_snapshot(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        averager = self._averager(trainer)
        self._snapshot = {
            "step": trainer.global_step,
            "module": _cpu_copy(pl_module.state_dict()),
            "optimizers": [copy.deepcopy(o.state_dict()) for o in trainer.optimizers],
            "average": None if averager is None or averager._average_model is None
            else _cpu_copy(averager._average_model.state_dict()),
        }

    def _restore(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        snap = self._snapshot
        pl_module.load_state_dict(snap["module"])
        for optimizer, state in zip(trainer.optimizers, snap["optimizers"]):
            optimizer.load_state_dict(state)
        averager = self._averager(trainer)
        if snap["average"] is not None and averager is not None:
            averager._average_model.load_state_dict(snap["average"])

    def _scale_lr(self, trainer: L.Trainer) -> None:
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] *= self.cfg.lr_factor
        for config in trainer.lr_scheduler_configs:  # the schedule recomputes lr from its base rates
            config.scheduler.base_lrs = [lr * self.cfg.lr_factor for lr in config.scheduler.base_lrs]

    # --- hooks ---------------------------------------------------------------------------------
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._take_snapshot(trainer, pl_module)

    def on_train_batch_start(self, trainer: L.Trainer, *args) -> None:
        self._step = trainer.global_step  # the step this batch is (as the skipped-step warnings name it)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        nonfinite = loss is not None and not bool(torch.isfinite(loss).all())
        diverged = float(trainer.callback_metrics.get("train/solve/diverged_frac", 0.0))
        # every rank must agree, or one would restore weights the others keep
        flag = torch.tensor([float(nonfinite), float(diverged > 0)], device=pl_module.device)
        nonfinite, bad = (bool(x > 0) for x in trainer.strategy.reduce(flag, reduce_op="max"))
        bad = bad or nonfinite
        self._streak = self._streak + 1 if bad else 0
        self._clean = self._clean and not bad
        if nonfinite or self._streak >= self.cfg.diverged_steps:
            reason = "non-finite loss" if nonfinite else f"diverged rows on {self._streak} consecutive steps"
            self._recover(trainer, pl_module, reason)

    def _recover(self, trainer: L.Trainer, pl_module: L.LightningModule, reason: str) -> None:
        metrics = trainer.callback_metrics
        event = {"step": self._step, "reason": reason,
                 "residual_p50": float(metrics.get("train/solve/residual_p50", float("nan"))),
                 "diverged_frac": float(metrics.get("train/solve/diverged_frac", float("nan")))}
        if self.recoveries >= self.cfg.max_recoveries:
            self.events.append({**event, "kind": "stopped"})
            raise SolveDivergedError(
                f"step {event['step']}: the solve diverged ({reason}; median residual {event['residual_p50']:.3g}, "
                f"diverged rows {event['diverged_frac']:.1%}) after {self.recoveries} recoveries "
                f"(train.solve_health.max_recoveries={self.cfg.max_recoveries}); {ADVICE}")
        self._restore(trainer, pl_module)
        self._scale_lr(trainer)
        self.recoveries += 1
        self._streak = 0
        self._clean = True
        self.events.append({**event, "kind": "recovered", "restored_step": self._snapshot["step"],
                            "lr_scale": self.cfg.lr_factor ** self.recoveries})
        pl_module.log("train/solve/recoveries", float(self.recoveries), on_step=True, on_epoch=False, batch_size=1)
        rank_zero_warn(f"step {event['step']}: the solve diverged ({reason}, median residual "
                       f"{event['residual_p50']:.3g}); restored the state of step {self._snapshot['step']} and "
                       f"scaled the learning rate by {self.cfg.lr_factor} (recovery {self.recoveries} of "
                       f"{self.cfg.max_recoveries})")

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        converged = trainer.callback_metrics.get("val/solve/converged_frac")
        if converged is not None and float(converged) < self.cfg.warn_below:
            self.events.append({"step": trainer.global_step, "kind": "low_convergence",
                                "converged_frac": float(converged)})
            if not self.warned:
                self.warned = True
                rank_zero_warn(f"step {trainer.global_step}: the solve met its tolerance on {float(converged):.1%} "
                               f"of validation rows (< train.solve_health.warn_below={self.cfg.warn_below}): "
                               f"this is a truncated unroll more than an attractor; {ADVICE}")
        if trainer.state.fn == "fit":
            if self._clean:
                self._take_snapshot(trainer, pl_module)
            self._clean = True

    # --- what the run reports and resumes with -------------------------------------------------
    def summary(self) -> dict[str, Any]:
        kinds = [e["kind"] for e in self.events]
        return {"recoveries": self.recoveries, "low_convergence_validations": kinds.count("low_convergence"),
                "stopped": "stopped" in kinds, "events": self.events}

    def state_dict(self) -> dict[str, Any]:
        return {"events": self.events, "recoveries": self.recoveries, "warned": self.warned}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.events = list(state_dict["events"])
        self.recoveries, self.warned = state_dict["recoveries"], state_dict["warned"]
