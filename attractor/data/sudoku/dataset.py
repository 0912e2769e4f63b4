"""Sudoku datasets for training: the generated-or-read DataModule and external hard test sets."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from attractor.config import require
from attractor.data.dataset import Augment, GridDataModule, GridDataset
from attractor.data.gridset import GridSet
from attractor.data.leakage import Key
from attractor.data.splits import Splits
from attractor.data.sudoku.augment import random_transform
from attractor.data.sudoku.canonical import canonical, invariant
from attractor.data.sudoku.depth import NEEDS_SEARCH
from attractor.data.sudoku.format import load_csv, load_puzzle_list, write_csv
from attractor.data.sudoku.generate import generate_split


def augment_tokens(inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Apply one random Sudoku symmetry (digits, bands, rows, stacks, columns, transpose) to both."""
    t = random_transform(int(round(len(inputs) ** 0.5)), rng)
    return t.apply_tokens(inputs), t.apply_tokens(labels)


def check_ladder(size: int, blanks: int | list[int] | None, min_rating: int | None,
                 train_depths: list[int] | None, test_depths: list[int] | None) -> None:
    """Raise a ConfigError naming the ``task.data`` key when the blanks or the depth ladder are malformed."""
    cells = size * size
    if isinstance(blanks, (list, tuple)):
        require(len(blanks) == 2 and all(isinstance(b, int) for b in blanks) and 0 <= blanks[0] <= blanks[1] < cells,
                "task.data.blanks", f"a range must be [lo, hi] with 0 <= lo <= hi < {cells}, got {list(blanks)}")
    if train_depths is None and test_depths is None:
        return
    for key, depths in (("train_depths", train_depths), ("test_depths", test_depths)):
        require(depths is not None, f"task.data.{key}", "the depth ladder needs both train_depths and test_depths")
        require(len(depths) > 0 and all(isinstance(d, int) and (d >= 1 or d == NEEDS_SEARCH) for d in depths),
                f"task.data.{key}", f"must be a non-empty list of depths >= 1 or {NEEDS_SEARCH} (needs search), "
                                    f"got {depths}")
        require(len(set(depths)) == len(depths), f"task.data.{key}", f"has a repeated depth: {depths}")
    require(blanks is not None, "task.data.blanks",
            "the depth ladder draws puzzles by blank count: give a [lo, hi] range (e.g. [6, 26] for 6x6), "
            "not null (hard mode)")
    require(min_rating is None, "task.data.min_rating", f"the depth ladder does not harden puzzles; use null, "
                                                        f"got {min_rating}")


class SudokuDataModule(GridDataModule):
    """n x n Sudoku (PAD 0, blank 1, digit d -> d+1; vocab n+2, length n*n).

    ``min_rating`` selects hard mode (None: the size's default); ``blanks`` instead asks for
    puzzles with exactly that many blanks, or a ``[lo, hi]`` range over the generator's chains,
    useful for small CPU-scale runs. The depth ladder: ``train_depths`` and ``test_depths`` spread
    train/validation and test evenly over those propagation depths (see
    :func:`attractor.data.sudoku.generate.generate_split`); a test item's depth is recomputed from
    its puzzle when it is scored (:func:`attractor.data.sudoku.depth.propagation_depth`).
    """

    def __init__(self, data_dir: str | os.PathLike | None = None, size: int = 9, n_train: int | None = 1000,
                 n_test: int | None = 1000, seed: int = 0, min_rating: int | None = None,
                 blanks: int | list[int] | None = None, augment: bool = True, batch_size: int = 64,
                 num_workers: int = 0, n_val: int | None = 500, train_depths: list[int] | None = None,
                 test_depths: list[int] | None = None):
        super().__init__(data_dir, n_train, n_val, n_test, seed, augment, batch_size, num_workers)
        check_ladder(size, blanks, min_rating, train_depths, test_depths)
        self.size, self.min_rating = size, min_rating
        self.blanks = list(blanks) if isinstance(blanks, (list, tuple)) else blanks
        self.train_depths = list(train_depths) if train_depths is not None else None
        self.test_depths = list(test_depths) if test_depths is not None else None
        self.vocab_size, self.seq_len = size + 2, size * size

    def generation_params(self) -> dict[str, Any]:
        params = {"puzzle": "sudoku", "size": self.size, "n_train": self.n_train, "n_val": self.n_val,
                  "n_test": self.n_test, "seed": self.seed, "min_rating": self.min_rating, "blanks": self.blanks}
        if self.train_depths is not None:  # only then, so caches written before the ladder stay valid
            params.update(train_depths=self.train_depths, test_depths=self.test_depths)
        return params

    def generate(self, n_val: int) -> Splits:
        blanks = tuple(self.blanks) if isinstance(self.blanks, list) else self.blanks
        return generate_split(self.n_train, self.n_test, self.size, self.seed, self.min_rating, blanks, n_val,
                              self.train_depths, self.test_depths)

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
