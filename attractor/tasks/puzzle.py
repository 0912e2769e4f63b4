"""Grid-to-grid puzzles (Sudoku, Maze) as a LightningModule: loss, deep supervision, EMA, metrics."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import lightning as L
import torch
import torch.nn.functional as F

from attractor.data import maze, sudoku
from attractor.models import build_model
from attractor.models.output import ModelOutput
from attractor.tasks.config import Run
from attractor.tasks.ema import EMA
from attractor.tasks.optim import build_optimizer

Tensor = torch.Tensor


@dataclass(frozen=True)
class PuzzleSpec:
    """What differs between puzzles: the data, what counts as solved, which cells are scored."""

    datamodule: type
    solved: Callable[[Tensor, Tensor, Tensor], Tensor]  # (pred, inputs, labels) -> Bool (B,)
    scored_cells: Callable[[Tensor], Tensor]  # inputs -> Bool (B, L): cells the cell accuracy counts


PUZZLES = {
    # Sudoku: the whole grid must equal the (unique) solution; cell accuracy over blank cells.
    "sudoku": PuzzleSpec(sudoku.SudokuDataModule,
                         lambda pred, inputs, labels: sudoku.exact_correct(pred, labels),
                         lambda inputs: inputs == 1),
    # Maze: any valid shortest path counts; cell accuracy over the non-wall cells.
    "maze": PuzzleSpec(maze.MazeDataModule,
                       lambda pred, inputs, labels: maze.correct(pred, inputs).to(pred.device),
                       lambda inputs: inputs != 1),
}


def grid_metrics(spec: PuzzleSpec, logits: Tensor, inputs: Tensor, labels: Tensor) -> dict[str, Tensor]:
    """Per-sample: solved flag, right and scored cell counts (summed later, so CIs use item counts)."""
    pred = logits.argmax(dim=-1)
    scored = spec.scored_cells(inputs)
    return {
        "solved": spec.solved(pred, inputs, labels),
        "cells_right": ((pred == labels) & scored).sum(dim=1),
        "cells_scored": scored.sum(dim=1),
    }


class PuzzleTask(L.LightningModule):
    """Trains any of the three models on a grid puzzle; evaluates with EMA weights when enabled."""

    def __init__(self, run: Run):
        super().__init__()
        self.run = run
        self.spec = PUZZLES[run.task.name]
        self.save_hyperparameters({"config": run.raw})
        self.model = build_model(run.model)
        self.ema = EMA(self.model, run.optim.ema_decay) if run.optim.ema_decay > 0 else None
        self._step_started = 0.0

    def forward(self, inputs: Tensor, mode: str | None = None, state: Tensor | None = None) -> ModelOutput:
        return self.model(inputs, mode=mode, state=state)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        inputs, labels = batch["inputs"], batch["labels"]
        segments, state, loss = self.run.train.supervision_steps, None, 0.0
        for _ in range(segments):
            out = self(inputs, state=state)
            segment_loss = F.cross_entropy(out.logits.flatten(0, 1).float(), labels.flatten(), ignore_index=0)
            if out.aux_loss is not None:
                segment_loss = segment_loss + out.aux_loss
            loss = loss + segment_loss / segments
            state = out.state
        self._log_step(loss, out, inputs, labels)
        return loss

    def _log_step(self, loss: Tensor, out: ModelOutput, inputs: Tensor, labels: Tensor) -> None:
        with torch.no_grad():
            m = grid_metrics(self.spec, out.logits, inputs, labels)
        batch = inputs.shape[0]
        logs = {"train/loss": loss.detach(), "train/exact_acc": m["solved"].float().mean(),
                "train/cell_acc": m["cells_right"].sum() / m["cells_scored"].sum().clamp(min=1)}
        for key in ("iterations", "abs_residual", "rel_residual", "converged", "jacobian_frobenius"):
            if key in out.stats:
                logs[f"train/{key}"] = out.stats[key].float().mean()
        elapsed = time.perf_counter() - self._step_started
        if self._step_started and elapsed > 0:
            world = self.trainer.world_size if self._trainer is not None else 1
            logs["perf/samples_per_s"] = batch * world / elapsed
            logs["perf/tokens_per_s"] = batch * world * inputs.shape[1] / elapsed
        if inputs.is_cuda:
            logs["perf/peak_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
        self.log_dict(logs, on_step=True, on_epoch=False, prog_bar=False, batch_size=batch, sync_dist=False)
        self.log("loss", loss.detach(), prog_bar=True, on_step=True, on_epoch=False, logger=False, batch_size=batch)

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        self._step_started = time.perf_counter()

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update(self.model)

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        inputs, labels = batch["inputs"], batch["labels"]
        out = self(inputs)
        m = grid_metrics(self.spec, out.logits, inputs, labels)
        exact = m["solved"].float().mean()
        cell = m["cells_right"].sum() / m["cells_scored"].sum().clamp(min=1)
        # score: exact accuracy, ties (e.g. all at 0 early on) broken by cell accuracy; picks `best`.
        logs = {"val/exact_acc": exact, "val/cell_acc": cell, "val/score": exact + cell / 1000}
        if "iterations" in out.stats:
            logs["val/iterations"] = out.stats["iterations"].float().mean()
        self.log_dict(logs, on_epoch=True, batch_size=inputs.shape[0], sync_dist=True, prog_bar=True)

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
