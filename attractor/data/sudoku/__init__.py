"""Sudoku (n x n, 9x9 by default): formats, solver, generator, augmentation, canonical form, metrics.

Model encoding: PAD 0, blank 1, digit d -> d+1 (vocab n+2, length n*n).
"""
from attractor.data.sudoku.format import load_any, load_csv, load_puzzle_list, write_csv
from attractor.data.sudoku.generate import generate, generate_split
from attractor.data.sudoku.metrics import cell_accuracy, exact_accuracy, exact_correct, valid
from attractor.data.sudoku.solver import rate, solve

__all__ = ["SudokuDataModule", "augment_tokens", "puzzle_list_dataset", "load_any", "load_csv",
           "load_puzzle_list", "write_csv", "generate", "generate_split", "cell_accuracy", "exact_accuracy",
           "exact_correct", "valid", "rate", "solve"]


def __getattr__(name: str):
    # The torch/Lightning side loads lazily so the CLI and the solver start fast.
    if name in ("SudokuDataModule", "augment_tokens", "puzzle_list_dataset"):
        from attractor.data.sudoku import dataset
        return getattr(dataset, name)
    raise AttributeError(name)
