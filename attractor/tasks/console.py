"""What a run prints: fit for a terminal, and for a file (`python train.py > run.out 2>&1` on a cluster).

On a terminal, Lightning's progress bar. Off one, the bar is off: a tqdm bar redraws itself with
carriage returns, which a terminal overwrites in place and a file keeps, and a rich bar prints
nothing until the fit ends (a file then shows no progress for the whole run); :class:`StatusLine`
prints one line every ``log_every_steps`` steps and one per validation instead.
"""
from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping

import lightning as L
from lightning.pytorch.callbacks import Callback


def interactive() -> bool:
    """Whether standard output is a terminal (where the progress bar redraws in place)."""
    return sys.stdout.isatty()


def log_each_line_once() -> None:
    """Leave Lightning's log records to the root logger's handlers when it has some.

    The ``lightning`` package gives its logger a console handler of its own and lets records
    propagate to the root as well; under Hydra, whose root handlers print and write the run's
    ``train.log``, every Lightning line appeared twice. A logging config cannot prevent it: Lightning
    is imported (and adds its handler) after Hydra has configured logging.
    """
    if logging.getLogger().handlers:
        lightning_logger = logging.getLogger("lightning")
        for handler in list(lightning_logger.handlers):
            lightning_logger.removeHandler(handler)
        lightning_logger.propagate = True


def _format(metrics: Mapping[str, object]) -> str:
    return "  ".join(f"{k} {float(v):.4g}" for k, v in sorted(metrics.items()))


class StatusLine(Callback):
    """One line every ``every`` optimizer steps (step, the progress-bar metrics, speed, time left) and
    one after each validation (its metrics), printed by global rank zero."""

    def __init__(self, every: int):
        if every < 1:
            raise ValueError(f"every: must be >= 1, got {every}")
        self.every = every
        self.start_time, self.start_step, self.last_step = 0.0, 0, -1

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start_time, self.start_step = time.perf_counter(), trainer.global_step

    def on_train_batch_end(self, trainer: L.Trainer, *args) -> None:
        step = trainer.global_step
        if not trainer.is_global_zero or step == self.last_step or (step % self.every and step != trainer.max_steps):
            return
        self.last_step = step
        elapsed = time.perf_counter() - self.start_time
        rate = (step - self.start_step) / elapsed if elapsed > 0 else 0.0
        total = f"/{trainer.max_steps}" if trainer.max_steps > 0 else ""
        left = f", {(trainer.max_steps - step) / rate:.0f} s left" if rate > 0 and trainer.max_steps > 0 else ""
        metrics = {k: v for k, v in trainer.progress_bar_metrics.items() if not k.startswith("val/")}
        print(f"step {step}{total}  {_format(metrics)}  ({rate:.2f} steps/s, {elapsed:.0f} s elapsed{left})", flush=True)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        metrics = {k: v for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        print(f"validation at step {trainer.global_step}  {_format(metrics)}", flush=True)
