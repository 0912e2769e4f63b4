"""Sudoku metrics on batches of model tokens (PAD 0, blank 1, digit d -> d+1), shape (B, n*n)."""
from __future__ import annotations

import torch

from attractor.data.sudoku.solver import box_shape


def exact_correct(pred: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Bool (B,): the whole grid equals the reference (the Sudoku-Extreme headline metric)."""
    return (pred == labels).all(dim=-1)


def exact_accuracy(pred: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of grids entirely right."""
    return exact_correct(pred, labels).float().mean()


def cell_accuracy(pred: torch.Tensor, labels: torch.Tensor, inputs: torch.Tensor | None = None) -> torch.Tensor:
    """Fraction of cells right; over the blank cells only when ``inputs`` is given (givens are free)."""
    right = pred == labels
    if inputs is None:
        return right.float().mean()
    blank = inputs == 1
    return (right & blank).sum().float() / blank.sum().clamp(min=1)


def valid(pred: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Bool (B,): a complete grid keeping every row, column and box rule and every given.

    Counts a correct alternative solution as valid, which matters for puzzles that are not unique.
    """
    b, cells = pred.shape
    n = int(round(cells ** 0.5))
    br, bc = box_shape(n)
    digits = pred.long() - 1
    in_range = ((digits >= 1) & (digits <= n)).all(dim=-1)
    onehot = torch.nn.functional.one_hot(digits.clamp(1, n) - 1, n).view(b, n, n, n)  # (B, row, col, digit)
    rows_ok = (onehot.sum(dim=2) == 1).all(dim=(1, 2))
    cols_ok = (onehot.sum(dim=1) == 1).all(dim=(1, 2))
    boxes = onehot.view(b, n // br, br, n // bc, bc, n).sum(dim=(2, 4))
    boxes_ok = (boxes == 1).all(dim=(1, 2, 3))
    given = inputs >= 2
    givens_ok = ((pred == inputs) | ~given).all(dim=-1)
    return in_range & rows_ok & cols_ok & boxes_ok & givens_ok
