"""Maze datasets for training: the generated-or-read DataModule."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from attractor.data.dataset import Augment, GridDataModule
from attractor.data.gridset import GridSet
from attractor.data.leakage import Key
from attractor.data.maze.augment import augment_tokens
from attractor.data.maze.canonical import canonical
from attractor.data.maze.format import load_csv, write_csv
from attractor.data.maze.generate import default_min_path, generate_split
from attractor.data.splits import Splits


class MazeDataModule(GridDataModule):
    """side x side mazes (PAD 0, ``# SGo`` -> 1..5; vocab 6, length side*side).

    ``min_path`` defaults to 110 moves at 30x30, scaled with the area for other sides.
    """

    def __init__(self, data_dir: str | os.PathLike | None = None, side: int = 30, n_train: int | None = 1000,
                 n_test: int | None = 1000, seed: int = 0, min_path: int | None = None, augment: bool = True,
                 batch_size: int = 64, num_workers: int = 0, n_val: int | None = 500):
        super().__init__(data_dir, n_train, n_val, n_test, seed, augment, batch_size, num_workers)
        self.side = side
        self.min_path = default_min_path(side) if min_path is None else min_path
        self.vocab_size, self.seq_len = 6, side * side

    def generation_params(self) -> dict[str, Any]:
        return {"puzzle": "maze", "side": self.side, "n_train": self.n_train, "n_val": self.n_val,
                "n_test": self.n_test, "seed": self.seed, "min_path": self.min_path}

    def generate(self, n_val: int) -> Splits:
        return generate_split(self.n_train, self.n_test, self.side, self.seed, self.min_path, n_val)

    def read(self, path: Path) -> GridSet:
        return load_csv(path, self.side)

    def write(self, path: Path, gs: GridSet) -> None:
        write_csv(path, gs)

    def augment_fn(self) -> Augment:
        return augment_tokens

    def symmetry_keys(self) -> tuple[Key, Key | None]:
        return canonical, None
