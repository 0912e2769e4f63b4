"""Sudoku datasets for training: the generated-or-read DataModule and external hard test sets."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from attractor.data.dataset import Augment, GridDataModule, GridDataset
from attractor.data.gridset import GridSet
from attractor.data.leakage import Key
from attractor.data.splits import Splits
from attractor.data.sudoku.augment import random_transform
from attractor.data.sudoku.canonical import canonical, invariant
from attractor.data.sudoku.format import load_csv, load_puzzle_list, write_csv
from attractor.data.sudoku.generate import generate_split


def augment_tokens(inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Apply one random Sudoku symmetry (digits, bands, rows, stacks, columns, transpose) to both."""
    t = random_transform(int(round(len(inputs) ** 0.5)), rng)
    return t.apply_tokens(inputs), t.apply_tokens(labels)


class SudokuDataModule(GridDataModule):
    """n x n Sudoku (PAD 0, blank 1, digit d -> d+1; vocab n+2, length n*n).

    ``min_rating`` selects hard mode (None: the size's default); ``blanks`` instead asks for
    puzzles with exactly that many blanks, useful for small CPU-scale runs.
    """

    def __init__(self, data_dir: str | os.PathLike | None = None, size: int = 9, n_train: int | None = 1000,
                 n_test: int | None = 1000, seed: int = 0, min_rating: int | None = None,
                 blanks: int | None = None, augment: bool = True, batch_size: int = 64, num_workers: int = 0,
                 n_val: int | None = 500):
        super().__init__(data_dir, n_train, n_val, n_test, seed, augment, batch_size, num_workers)
        self.size, self.min_rating, self.blanks = size, min_rating, blanks
        self.vocab_size, self.seq_len = size + 2, size * size

    def generation_params(self) -> dict[str, Any]:
        return {"puzzle": "sudoku", "size": self.size, "n_train": self.n_train, "n_val": self.n_val,
                "n_test": self.n_test, "seed": self.seed, "min_rating": self.min_rating, "blanks": self.blanks}

    def generate(self, n_val: int) -> Splits:
        return generate_split(self.n_train, self.n_test, self.size, self.seed, self.min_rating, self.blanks, n_val)

    def read(self, path: Path) -> GridSet:
        return load_csv(path, self.size)

    def write(self, path: Path, gs: GridSet) -> None:
        write_csv(path, gs)

    def augment_fn(self) -> Augment:
        return augment_tokens

    def symmetry_keys(self) -> tuple[Key, Key | None]:
        return canonical, invariant


def puzzle_list_dataset(path: str | os.PathLike, size: int | None = None) -> GridDataset:
    """An external plain puzzle list (e.g. ``../shared/data/sudoku/*.txt``) as a test Dataset.

    Each puzzle is solved and checked unique on load; never augmented, never for training.
    """
    return GridDataset(load_puzzle_list(path, size))
