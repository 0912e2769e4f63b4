"""Sudoku metrics on token batches."""
import torch

from attractor.data.sudoku.generate import generate
from attractor.data.sudoku.metrics import cell_accuracy, exact_accuracy, exact_correct, valid


def _batch():
    x, y = generate(3, size=4, seed=0, blanks=8).tokens()
    return torch.from_numpy(x), torch.from_numpy(y)


def test_exact_and_cell_accuracy():
    x, y = _batch()
    pred = y.clone()
    pred[0, (x[0] == 1).nonzero()[0, 0]] = 0  # one blank cell wrong in grid 0
    assert exact_correct(pred, y).tolist() == [False, True, True]
    assert abs(exact_accuracy(pred, y).item() - 2 / 3) < 1e-6
    assert abs(cell_accuracy(pred, y).item() - 47 / 48) < 1e-6
    assert abs(cell_accuracy(pred, y, x).item() - 23 / 24) < 1e-6


def test_validity_checker():
    x, y = _batch()
    assert valid(y, x).all()
    swapped = y.clone()
    swapped[:, [0, 1]] = swapped[:, [1, 0]]  # breaks column rules
    assert not valid(swapped, x).any()
    relabelled = y.clone()
    for d, e in [(2, 3), (3, 2)]:
        relabelled[y == d] = e  # still a valid grid, but may change givens
    changed_given = ((x >= 2) & (relabelled != x)).any(dim=1)
    assert (valid(relabelled, x) == ~changed_given).all() and changed_given.any()
    assert not valid(torch.zeros_like(y), x).any()
