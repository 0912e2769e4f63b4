"""Grid-to-grid puzzles (Sudoku, Maze) as a LightningModule: loss, deep supervision, metrics."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from attractor.data import maze, sudoku
from attractor.models import ModelOutput
from attractor.tasks.base import SequenceTask
from attractor.tasks.config import Run

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


def segment_outputs(model: torch.nn.Module, inputs: Tensor, segments: int, mode: str | None = None,
                    ) -> list[ModelOutput]:
    """Deep supervision's segments: each forward starts from the previous one's latent (carried
    detached, so gradients stay within a segment). Training supervises every segment; evaluation
    reads the last, so a model is scored at the depth it was trained for."""
    outputs, state = [], None
    for _ in range(segments):
        outputs.append(model(inputs, mode=mode, state=state))
        state = outputs[-1].state
    return outputs


class PuzzleTask(SequenceTask):
    """Trains any of the three models on a grid puzzle; evaluates with EMA weights when enabled."""

    def __init__(self, run: Run):
        super().__init__(run)
        self.spec = PUZZLES[run.task.name]

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        inputs, labels = batch["inputs"], batch["labels"]
        outputs = segment_outputs(self.model, inputs, self.run.train.supervision_steps)
        loss = 0.0
        for out in outputs:
            segment_loss = F.cross_entropy(out.logits.flatten(0, 1).float(), labels.flatten(), ignore_index=0)
            if out.aux_loss is not None:
                segment_loss = segment_loss + out.aux_loss
            loss = loss + segment_loss / len(outputs)
        with torch.no_grad():
            m = grid_metrics(self.spec, out.logits, inputs, labels)
        self.log_train_step(loss, outputs, inputs.shape[0], {
            "train/exact_acc": m["solved"].float().mean(),
            "train/cell_acc": m["cells_right"].sum() / m["cells_scored"].sum().clamp(min=1)})
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        inputs, labels = batch["inputs"], batch["labels"]
        out = segment_outputs(self.model, inputs, self.run.train.supervision_steps)[-1]
        m = grid_metrics(self.spec, out.logits, inputs, labels)
        exact = m["solved"].float().mean()
        cell = m["cells_right"].sum() / m["cells_scored"].sum().clamp(min=1)
        # score: exact accuracy, ties (e.g. all at 0 early on) broken by cell accuracy; picks `best`.
        logs = {"val/exact_acc": exact, "val/cell_acc": cell, "val/score": exact + cell / 1000}
        if "iterations" in out.stats:
            logs["val/iterations"] = out.stats["iterations"].float().mean()
        self.log_dict(logs, on_epoch=True, batch_size=inputs.shape[0], sync_dist=True, prog_bar=True)
