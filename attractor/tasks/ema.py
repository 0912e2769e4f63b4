"""Exponential moving average of the weights (the published puzzle recipes depend on it).

Lightning's own :class:`EMAWeightAveraging` callback, with two corrections for how we use it:

- the average lives on the device the strategy trains on. Lightning builds it in ``setup``, before
  the strategy moves the module, so by default it would stay on the CPU and every step would copy
  the whole model across the bus;
- the module keeps its raw weights when training ends (Lightning copies the average into it). A
  checkpoint then always holds both apart: ``state_dict`` the average (Lightning's layout, so any
  Lightning loader gets the evaluation weights) and ``current_model_state`` the raw weights, with
  the optimizer state that belongs to them. :func:`attractor.evaluation.checkpoint.load_checkpoint`
  chooses between them and says which it used.

Validation runs with the average swapped in (Lightning swaps it in and out around each validation
epoch), so ``val/score`` and ``best.ckpt`` are chosen on the weights that will be evaluated.
"""
from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import EMAWeightAveraging


class EMA(EMAWeightAveraging):
    """EMA of all parameters and buffers with ``decay``, updated after every optimizer step."""

    def __init__(self, decay: float):
        super().__init__(decay=decay)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit" and self._device is None:
            self._device = trainer.strategy.root_device
        super().setup(trainer, pl_module, stage)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Keep the raw weights in the module: the final checkpoint stores both, apart."""
