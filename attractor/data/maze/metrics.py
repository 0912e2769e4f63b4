"""Maze metrics on batches of model tokens (PAD 0, ``# SGo`` -> 1..5), shape (B, side*side)."""
from __future__ import annotations

import numpy as np
import torch

from attractor.data.maze.solver import OK, check


def correct(pred: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Bool (B,): the prediction marks a valid shortest S-G path and changes nothing else.

    Judged against the maze itself, not the reference path, so an alternative shortest path
    counts as correct and a longer one does not.
    """
    q = inputs.detach().cpu().numpy().astype(np.int64) - 1
    a = pred.detach().cpu().numpy().astype(np.int64) - 1
    a[(a < 0) | (a > 4)] = 99  # PAD or out-of-vocabulary tokens are never right
    status, _ = check(q, a)
    return torch.from_numpy(status == OK)


def accuracy(pred: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Fraction of mazes solved with a valid shortest path."""
    return correct(pred, inputs).float().mean()
