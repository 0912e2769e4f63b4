"""Grid-to-grid puzzles (Sudoku, Maze) as a LightningModule: loss, deep supervision, ACT halting, metrics.

ACT halting (``train.act``, models with a Q-head): a batch runs up to ``supervision_steps`` segments
with the latents carried detached. At every segment each still-running sample adds its token loss
(mean over its cells) plus ``q_loss_weight`` x the binary cross-entropy of the Q-head's logit against
whether its answer is exactly the label grid (TRM's target). A sample halts once its Q-logit is
positive, or at the last segment; with probability ``halt_exploration`` it must first run a random
number of segments drawn from [2, N] (drawn once per sample and step). Halted samples add no
further loss; the loss is normalised by batch x segments, as every segment counted in full. The
reference instead carries halted-and-refilled samples across batches and steps the optimizer per
segment; here a batch is one optimizer step, so every preset shares the one training loop.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from attractor.data import maze, sudoku
from attractor.data.maze.solver import shortest_path_length
from attractor.data.sudoku.depth import propagation_depth
from attractor.models import ModelOutput
from attractor.tasks.base import SequenceTask
from attractor.tasks.config import Run
from attractor.tasks.losses import mean_token_loss, per_sample_loss

Tensor = torch.Tensor


@dataclass(frozen=True)
class PuzzleSpec:
    """What differs between puzzles: the data, what counts as solved, which cells are scored."""

    datamodule: type
    solved: Callable[[Tensor, Tensor, Tensor], Tensor]  # (pred, inputs, labels) -> Bool (B,)
    scored_cells: Callable[[Tensor], Tensor]  # inputs -> Bool (B, L): cells the cell accuracy counts
    depth: Callable[[np.ndarray], np.ndarray]  # puzzle codes (B, L) -> (B,) reasoning depth each needs


PUZZLES = {
    # Sudoku: the whole grid must equal the (unique) solution; cell accuracy over blank cells.
    "sudoku": PuzzleSpec(sudoku.SudokuDataModule,
                         lambda pred, inputs, labels: sudoku.exact_correct(pred, labels),
                         lambda inputs: inputs == 1,
                         propagation_depth),  # rounds of singles; -1: needs search
    # Maze: any valid shortest path counts; cell accuracy over the non-wall cells.
    "maze": PuzzleSpec(maze.MazeDataModule,
                       lambda pred, inputs, labels: maze.correct(pred, inputs).to(pred.device),
                       lambda inputs: inputs != 1,
                       shortest_path_length),  # moves on a shortest path
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


def label_match(logits: Tensor, labels: Tensor) -> Tensor:
    """(B,) the argmax grid equals the label grid on every labelled cell: the Q-head's target."""
    return ((logits.argmax(dim=-1) == labels) | (labels == 0)).all(dim=1)


def halt_decision(q_halt: Tensor, segment: int, max_segments: int, min_segments: Tensor) -> Tensor:
    """(B,) halt after this (1-based) segment: at the last one, or once the Q-logit is positive and
    the sample has run its ``min_segments`` (0 unless exploring)."""
    if segment >= max_segments:
        return torch.ones_like(q_halt, dtype=torch.bool)
    return (q_halt > 0) & (segment >= min_segments)


def exploration_minimum(batch: int, max_segments: int, probability: float, device) -> Tensor:
    """(B,) minimum segments: a random draw from [2, max] for the exploring samples, else 0."""
    explore = torch.rand(batch, device=device) < probability
    return explore * torch.randint(2, max_segments + 1, (batch,), device=device)


class PuzzleTask(SequenceTask):
    """Trains any of the five models on a grid puzzle; evaluates with EMA weights when enabled."""

    def __init__(self, run: Run):
        super().__init__(run)
        self.spec = PUZZLES[run.task.name]

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        inputs, labels = batch["inputs"], batch["labels"]
        if self.run.train.act:
            return self.act_step(inputs, labels)
        outputs = segment_outputs(self.model, inputs, self.run.train.supervision_steps)
        loss = 0.0
        for out in outputs:
            segment_loss = self.supervised(out, lambda logits: mean_token_loss(logits, labels, self.run.train.loss))
            if out.aux_loss is not None:
                segment_loss = segment_loss + out.aux_loss
            loss = loss + segment_loss / len(outputs)
        with torch.no_grad():
            m = grid_metrics(self.spec, out.logits, inputs, labels)
        self.log_train_step(loss, outputs, inputs.shape[0], {
            "train/exact_acc": m["solved"].float().mean(),
            "train/cell_acc": m["cells_right"].sum() / m["cells_scored"].sum().clamp(min=1)})
        return loss

    def act_step(self, inputs: Tensor, labels: Tensor) -> Tensor:
        """Deep supervision with ACT halting (see the module docstring)."""
        t, batch = self.run.train, inputs.shape[0]
        running = torch.ones(batch, dtype=torch.bool, device=inputs.device)
        minimum = exploration_minimum(batch, t.supervision_steps, t.halt_exploration, inputs.device)
        final_right = torch.zeros_like(running)
        segments_used = torch.zeros(batch, device=inputs.device)
        q_right, outputs, state, loss = [], [], None, 0.0
        for segment in range(1, t.supervision_steps + 1):
            out = self.model(inputs, state=state)
            outputs.append(out)
            state = out.state
            q = out.stats["q_halt"]
            right = label_match(out.logits.detach(), labels)
            sample = per_sample_loss(out.logits, labels, t.loss)
            sample = sample + t.q_loss_weight * F.binary_cross_entropy_with_logits(q, right.float(), reduction="none")
            if out.aux_loss is not None:
                sample = sample + out.aux_loss
            loss = loss + (sample * running).sum() / (batch * t.supervision_steps)
            with torch.no_grad():
                q_right.append(((q > 0) == right)[running])
                halted = halt_decision(q.detach(), segment, t.supervision_steps, minimum) & running
                final_right = final_right | (halted & right)
                segments_used = segments_used + running
                running = running & ~halted
            if not running.any():
                break
        self.log_train_step(loss, outputs, batch, {
            "train/exact_acc": final_right.float().mean(), "train/segments": segments_used.mean(),
            "train/q_acc": torch.cat(q_right).float().mean()})
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        inputs, labels = batch["inputs"], batch["labels"]
        outputs = segment_outputs(self.model, inputs, self.run.train.supervision_steps)
        out = outputs[-1]
        for o in outputs:
            self.tally_validation(o)
        m = grid_metrics(self.spec, out.logits, inputs, labels)
        exact = m["solved"].float().mean()
        cell = m["cells_right"].sum() / m["cells_scored"].sum().clamp(min=1)
        # score: exact accuracy, ties (e.g. all at 0 early on) broken by cell accuracy; picks `best`.
        logs = {"val/exact_acc": exact, "val/cell_acc": cell, "val/score": exact + cell / 1000}
        if "iterations" in out.stats:
            logs["val/iterations"] = out.stats["iterations"].float().mean()
        self.log_dict(logs, on_epoch=True, batch_size=inputs.shape[0], sync_dist=True, prog_bar=True)
        for mode in self.run.train.val_modes:  # e.g. the solver removed, over training
            m = grid_metrics(self.spec, segment_outputs(self.model, inputs, self.run.train.supervision_steps, mode)[-1].logits,
                             inputs, labels)
            cells = m["cells_right"].sum() / m["cells_scored"].sum().clamp(min=1)
            self.log_dict({f"val/{mode}/exact_acc": m["solved"].float().mean(), f"val/{mode}/cell_acc": cells},
                          on_epoch=True, batch_size=inputs.shape[0], sync_dist=True)
