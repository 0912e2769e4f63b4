"""DataModules: item format, vocab/seq_len, caching, the validation split kept apart from train and
test, and the external test list."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from attractor.data.gridset import GridSet
from attractor.data.leakage import find_leaks
from attractor.data.maze import MazeDataModule
from attractor.data.maze.canonical import canonical as maze_canonical
from attractor.data.sudoku import SudokuDataModule, generate_split, puzzle_list_dataset
from attractor.data.sudoku.augment import random_transform
from attractor.data.sudoku.canonical import canonical, invariant
from attractor.data.sudoku.format import load_csv, write_csv

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sudoku"


def test_sudoku_datamodule_generates_caches_and_reads(tmp_path):
    dm = SudokuDataModule(data_dir=tmp_path, size=4, n_train=20, n_val=4, n_test=8, seed=1, blanks=6, batch_size=4)
    assert (dm.vocab_size, dm.seq_len) == (6, 16)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["inputs"].shape == (4, 16) and batch["inputs"].dtype == torch.long
    assert (batch["inputs"] == 1).sum(1).eq(6).all() and batch["labels"].min() >= 2
    assert [len(load_csv(tmp_path / f"{s}.csv")) for s in ("train", "val", "test")] == [20, 4, 8]
    assert json.loads((tmp_path / "meta.json").read_text())["n_val"] == 4
    again = SudokuDataModule(data_dir=tmp_path, size=4, n_train=20, n_val=4, n_test=8, seed=1, blanks=6)
    again.setup()
    assert np.array_equal(again.train_set.q, dm.train_set.q) and np.array_equal(again.val_set.q, dm.val_set.q)
    with pytest.raises(ValueError, match="was generated with"):
        SudokuDataModule(data_dir=tmp_path, size=4, n_train=20, n_val=4, n_test=8, seed=2, blanks=6).setup()
    with pytest.raises(ValueError, match="was generated with"):
        SudokuDataModule(data_dir=tmp_path, size=4, n_train=20, n_val=5, n_test=8, seed=1, blanks=6).setup()


def test_old_cache_without_val_is_a_clear_error_and_left_alone(tmp_path):
    SudokuDataModule(data_dir=tmp_path, size=4, n_train=12, n_val=3, n_test=4, seed=0, blanks=6).setup()
    meta = json.loads((tmp_path / "meta.json").read_text())
    del meta["n_val"]
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    (tmp_path / "val.csv").unlink()
    train = (tmp_path / "train.csv").read_bytes()
    with pytest.raises(ValueError, match=r"cached before validation splits .*no n_val.* delete it"):
        SudokuDataModule(data_dir=tmp_path, size=4, n_train=12, n_val=3, n_test=4, seed=0, blanks=6).setup()
    assert not (tmp_path / "val.csv").exists() and (tmp_path / "train.csv").read_bytes() == train


def rows(loader) -> set[bytes]:
    return {x.numpy().tobytes() for batch in loader for x in batch["inputs"]}


def test_val_dataloader_serves_val_and_test_dataloader_test():
    dm = SudokuDataModule(size=6, n_train=8, n_val=5, n_test=4, seed=0, blanks=12, batch_size=4)
    dm.setup()
    val, test = rows(dm.val_dataloader()), rows(dm.test_dataloader())
    assert val == {x.tobytes() for x in dm.val_set.tokens()[0]} and len(val) == 5
    assert test == {x.tobytes() for x in dm.test_set.tokens()[0]} and not val & test
    assert next(iter(dm.val_dataloader()))["inputs"].tolist() == dm.val_set.tokens()[0][:4].tolist()  # not augmented
    dm.val_max_items = 2
    assert rows(dm.val_dataloader()) == {x.tobytes() for x in dm.val_set.tokens()[0][:2]}


def test_in_memory_test_stage_skips_validation_until_fit():
    dm = SudokuDataModule(size=6, n_train=8, n_val=3, n_test=4, seed=0, blanks=12)
    dm.setup("test")
    test = dm.test_set.q.copy()
    assert dm.val_set is None
    dm.setup("fit")
    assert len(dm.val_set) == 3 and np.array_equal(dm.test_set.q, test)


@pytest.mark.parametrize("make, keys", [
    (lambda: SudokuDataModule(size=6, n_train=40, n_val=20, n_test=20, seed=3, blanks=10), (canonical, invariant)),
    (lambda: MazeDataModule(side=9, n_train=20, n_val=10, n_test=10, seed=3), (maze_canonical, None)),
], ids=["sudoku", "maze"])
def test_generated_val_is_apart_from_train_and_test_under_symmetry(make, keys):
    dm = make()
    dm.setup()
    assert len(dm.val_set) == dm.n_val and set(dm.val_set.source) == {"generated-val"}
    assert find_leaks(dm.train_set.q, dm.val_set.q, *keys) == []
    assert find_leaks(dm.test_set.q, dm.val_set.q, *keys) == []
    assert find_leaks(dm.train_set.q, dm.test_set.q, *keys) == []


def read_in_dir(tmp_path: Path) -> tuple[Path, GridSet]:
    """A folder of train.csv/test.csv from elsewhere (no meta.json). Train rows 0 and 3 are transformed
    copies of test rows 0 and 1, train row 2 of train row 1: carving must avoid and follow them."""
    splits = generate_split(30, 6, size=6, seed=4, blanks=10)
    t = random_transform(6, np.random.default_rng(0))
    train = splits.train
    for i, (q, a) in {0: (splits.test.q[0], splits.test.a[0]), 3: (splits.test.q[1], splits.test.a[1]),
                      2: (train.q[1], train.a[1])}.items():
        train.q[i], train.a[i] = t.apply(q), t.apply(a)
    write_csv(tmp_path / "train.csv", train)
    write_csv(tmp_path / "test.csv", splits.test)
    return tmp_path, load_csv(tmp_path / "train.csv")


def carve(data_dir: Path, n_val: int | None, seed: int = 0, n_train: int | None = None) -> SudokuDataModule:
    dm = SudokuDataModule(data_dir=data_dir, size=6, n_train=n_train, n_val=n_val, n_test=None, seed=seed)
    dm.setup()
    return dm


def test_val_carved_from_read_in_train_is_seeded_and_apart(tmp_path):
    data_dir, file_train = read_in_dir(tmp_path)
    dm = carve(data_dir, 8)
    assert len(dm.val_set) == 8 and sorted(p.name for p in data_dir.iterdir()) == ["test.csv", "train.csv"]
    assert find_leaks(dm.test_set.q, dm.val_set.q, canonical, invariant) == []
    assert find_leaks(dm.val_set.q, dm.train_set.q, canonical, invariant) == []
    carved = {q.tobytes() for q in dm.val_set.q}
    kept = {q.tobytes() for q in dm.train_set.q}
    assert carved | kept <= {q.tobytes() for q in file_train.q} and not carved & kept
    assert not carved & {file_train.q[0].tobytes(), file_train.q[3].tobytes()}  # variants of test puzzles
    assert len(carved & {file_train.q[1].tobytes(), file_train.q[2].tobytes()}) == 1  # (for seed 0)
    assert len(kept) == 30 - 8 - 1  # so the other of the pair, a variant of a val puzzle, left training too
    assert np.array_equal(carve(data_dir, 8).val_set.q, dm.val_set.q)
    assert not np.array_equal(carve(data_dir, 8, seed=1).val_set.q, dm.val_set.q)
    assert len(carve(data_dir, 8, n_train=10).train_set) == 10


def test_val_csv_beside_read_in_data_is_read(tmp_path):
    data_dir, file_train = read_in_dir(tmp_path)
    write_csv(data_dir / "val.csv", file_train.take([3, 4, 5]))
    dm = carve(data_dir, None)
    assert np.array_equal(dm.val_set.q, file_train.q[3:6]) and len(dm.train_set) == 30
    assert len(carve(data_dir, 2).val_set) == 2
    with pytest.raises(ValueError, match=r"n_val=4 exceeds the 3 rows of .*val.csv"):
        carve(data_dir, 4)


def test_bad_n_val_names_n_val_and_the_file(tmp_path):
    data_dir, _ = read_in_dir(tmp_path)
    with pytest.raises(ValueError, match=r"n_val must be >= 1 .*got -1"):
        carve(data_dir, -1)
    with pytest.raises(ValueError, match=r"n_val=30 is not smaller than the 30 rows of .*train.csv"):
        carve(data_dir, 30)
    with pytest.raises(ValueError, match=r"n_val=29: only 28 rows of .*train.csv are not symmetric variants"):
        carve(data_dir, 29)
    with pytest.raises(ValueError, match=r"n_val: needed to carve .*train.csv"):
        carve(data_dir, None)
    with pytest.raises(ValueError, match="n_val: needed to generate"):
        SudokuDataModule(size=4, n_val=None).setup()


@pytest.mark.skipif(not (SHARED / "magictour_top1465.txt").exists(), reason="shared data absent")
def test_external_puzzle_list_dataset():
    ds = puzzle_list_dataset(SHARED / "magictour_top1465.txt")
    item = ds[0]
    assert len(ds) == 1465 and item["inputs"].shape == (81,) and item["labels"].min() >= 2
