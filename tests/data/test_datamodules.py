"""DataModules: item format, vocab/seq_len, caching to a directory, and the external test list."""
from pathlib import Path

import numpy as np
import pytest
import torch

from attractor.data.maze import MazeDataModule
from attractor.data.sudoku import SudokuDataModule, puzzle_list_dataset

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sudoku"


def test_sudoku_datamodule_generates_caches_and_reads(tmp_path):
    dm = SudokuDataModule(data_dir=tmp_path, size=4, n_train=20, n_test=8, seed=1, blanks=6, batch_size=4)
    assert (dm.vocab_size, dm.seq_len) == (6, 16)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["inputs"].shape == (4, 16) and batch["inputs"].dtype == torch.long
    assert (batch["inputs"] == 1).sum(1).eq(6).all() and batch["labels"].min() >= 2
    assert (tmp_path / "train.csv").exists() and (tmp_path / "test.csv").exists()
    again = SudokuDataModule(data_dir=tmp_path, size=4, n_train=20, n_test=8, seed=1, blanks=6)
    again.setup()
    assert np.array_equal(again.train_set.q, dm.train_set.q)
    with pytest.raises(ValueError, match="was generated with"):
        SudokuDataModule(data_dir=tmp_path, size=4, n_train=20, n_test=8, seed=2, blanks=6).setup()


def test_test_split_is_not_augmented():
    dm = SudokuDataModule(size=6, n_train=4, n_test=4, seed=0, blanks=12, batch_size=4)
    dm.setup()
    first = next(iter(dm.val_dataloader()))
    second = next(iter(dm.test_dataloader()))
    assert torch.equal(first["inputs"], second["inputs"])
    x, _ = dm.test_set.tokens()
    assert torch.equal(first["inputs"], torch.from_numpy(x))


def test_maze_datamodule_items():
    dm = MazeDataModule(side=9, n_train=8, n_test=4, seed=0, batch_size=8)
    dm.setup()
    assert (dm.vocab_size, dm.seq_len, dm.min_path) == (6, 81, 10)
    batch = next(iter(dm.train_dataloader()))
    assert batch["labels"].shape == (8, 81) and int(batch["labels"].max()) == 5


@pytest.mark.skipif(not (SHARED / "magictour_top1465.txt").exists(), reason="shared data absent")
def test_external_puzzle_list_dataset():
    ds = puzzle_list_dataset(SHARED / "magictour_top1465.txt")
    item = ds[0]
    assert len(ds) == 1465 and item["inputs"].shape == (81,) and item["labels"].min() >= 2
