"""Torch side of the grid puzzles: a Dataset of token pairs and a DataModule base.

The puzzle packages subclass :class:`GridDataModule` with how to generate, read and write their
sets and how to augment; loading, caching and dataloaders are written once here.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from attractor.data.gridset import GridSet
from attractor.data.leakage import Key
from attractor.data.sampling import StepBatchSampler
from attractor.data.splits import SPLITS, Splits, carve_val
from attractor.io import write_text

Augment = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]


class GridDataset(Dataset):
    """Items ``{"inputs": LongTensor(L), "labels": LongTensor(L)}``, optionally augmented per access.

    A key is an index, or ``(index, step)`` from :class:`StepBatchSampler`: the augmentation of an
    item is then seeded by (seed, step, index), so a resumed run sees the very same variants, with
    any number of workers. A plain index draws from torch's RNG (repeatable under a global seed).
    """

    def __init__(self, gs: GridSet, augment: Augment | None = None, seed: int = 0):
        self.inputs, self.labels = gs.tokens()
        self.augment, self.seed = augment, seed

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        i, step = key if isinstance(key, tuple) else (key, None)
        x, y = self.inputs[i], self.labels[i]
        if self.augment is not None:
            seed = [self.seed, step, i] if step is not None else int(torch.randint(0, 2**62, (1,)))
            x, y = self.augment(x, y, np.random.default_rng(seed))
        return {"inputs": torch.as_tensor(np.ascontiguousarray(x), dtype=torch.long),
                "labels": torch.as_tensor(np.ascontiguousarray(y), dtype=torch.long)}


class GridDataModule(L.LightningDataModule):
    """Train, validation and test splits from ``data_dir`` or generated from the seed (and cached).

    - ``data_dir`` with ``meta.json``: a cache written here; its parameters must match, then
      ``{train,val,test}.csv`` are read (missing ones are generated again).
    - ``data_dir`` with ``train.csv`` and ``test.csv`` but no ``meta.json``: data from elsewhere.
      ``val.csv`` is read when present; otherwise ``n_val`` rows are carved out of ``train.csv``
      (seeded, see :func:`attractor.data.splits.carve_val`) and leave training.
    - otherwise: generated (and, with a ``data_dir``, written there with ``meta.json``).

    Validation serves checkpoint selection, the test split only final evaluation; neither is
    augmented.
    """

    vocab_size: int
    seq_len: int

    def __init__(self, data_dir: str | os.PathLike | None, n_train: int | None, n_val: int | None,
                 n_test: int | None, seed: int, augment: bool, batch_size: int, num_workers: int):
        super().__init__()
        if n_val is not None and n_val < 1:
            raise ValueError(f"n_val must be >= 1 (the validation split picks the checkpoint), got {n_val}")
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.n_train, self.n_val, self.n_test, self.seed = n_train, n_val, n_test, seed
        self.augment, self.batch_size, self.num_workers = augment, batch_size, num_workers
        self.eval_batch_size, self.val_max_items = batch_size, 0  # the harness may raise both
        self.train_set: GridSet | None = None
        self.val_set: GridSet | None = None
        self.test_set: GridSet | None = None

    # -- what each puzzle supplies ------------------------------------------------------------
    def generation_params(self) -> dict[str, Any]:
        raise NotImplementedError

    def generate(self, n_val: int) -> Splits:
        raise NotImplementedError

    def read(self, path: Path) -> GridSet:
        raise NotImplementedError

    def write(self, path: Path, gs: GridSet) -> None:
        raise NotImplementedError

    def augment_fn(self) -> Augment:
        raise NotImplementedError

    def symmetry_keys(self) -> tuple[Key, Key | None]:
        """(canonical form, cheap invariant or None) for keeping validation apart from the rest."""
        raise NotImplementedError

    # -- shared logic ---------------------------------------------------------------------------
    def _file(self, split: str) -> Path:
        return self.data_dir / f"{split}.csv"

    def _generate(self, with_val: bool = True) -> Splits:
        missing = [k for k in ("n_train", "n_val", "n_test") if getattr(self, k) is None]
        if missing:
            raise ValueError(f"{', '.join(missing)}: needed to generate data")
        return self.generate(self.n_val if with_val else 0)

    def _is_cache(self) -> bool:
        """Whether ``data_dir`` is a cache written here (has ``meta.json``); raises unless its parameters
        are this module's, before anything is read or written."""
        meta = self.data_dir / "meta.json"
        if not meta.exists():
            return False
        cached, wanted = json.loads(meta.read_text()), json.loads(json.dumps(self.generation_params()))
        if "n_val" not in cached:
            raise ValueError(f"{self.data_dir} was cached before validation splits existed ({meta} has no n_val, "
                             f"so there is no val.csv): delete it to generate it again (train.csv and test.csv "
                             f"come out the same) or use another data_dir")
        if cached != wanted:
            raise ValueError(f"{self.data_dir} was generated with {meta.read_text().strip()}, "
                             f"not {self.generation_params()}: use another data_dir or delete it")
        return True

    def prepare_data(self) -> None:
        if self.data_dir is None:
            return
        if self._is_cache():
            if all(self._file(s).exists() for s in SPLITS):
                return
        elif all(self._file(s).exists() for s in ("train", "test")):
            return  # data from elsewhere: read as it is
        splits = self._generate()
        for split in SPLITS:
            self.write(self._file(split), getattr(splits, split))
        write_text(self.data_dir / "meta.json", json.dumps(self.generation_params(), indent=1, sort_keys=True))

    def _subset(self, gs: GridSet, n: int | None, salt: int) -> GridSet:
        if n is None or n >= len(gs):
            return gs
        idx = np.sort(np.random.default_rng([self.seed, salt]).choice(len(gs), n, replace=False))
        return gs.take(idx)

    def _read(self) -> Splits:
        """The splits in ``data_dir``: val from val.csv, or carved out of train.csv (see the class)."""
        train, test = self.read(self._file("train")), self.read(self._file("test"))
        if self._file("val").exists():
            val = self.read(self._file("val"))
            if self.n_val is not None and self.n_val > len(val):
                raise ValueError(f"n_val={self.n_val} exceeds the {len(val)} rows of {self._file('val')}")
            val = self._subset(val, self.n_val, 2)
        else:
            train, val = carve_val(train, test, self.n_val, self.seed, *self.symmetry_keys(), self._file("train"))
        return Splits(self._subset(train, self.n_train, 0), self._subset(test, self.n_test, 1), val)

    def setup(self, stage: str | None = None) -> None:
        """Load or generate the splits; in memory, ``stage="test"`` skips generating validation."""
        with_val = stage != "test"
        if self.train_set is not None and (self.val_set is not None or not with_val):
            return
        if self.data_dir is None:
            splits = self._generate(with_val)
        else:
            self.prepare_data()
            splits = self._read()
        self.train_set, self.val_set, self.test_set = splits.train, splits.val, splits.test
        for split in SPLITS:
            gs = getattr(splits, split)
            if gs is not None and gs.q.shape[1] != self.seq_len:
                raise ValueError(f"{split} grids have {gs.q.shape[1]} cells, this datamodule expects {self.seq_len}")

    def train_dataloader(self) -> DataLoader:
        """Batches as a function of the global step (see StepBatchSampler), so resuming replays them."""
        ds = GridDataset(self.train_set, self.augment_fn() if self.augment else None, self.seed)
        sampler = StepBatchSampler.following(self.trainer, len(ds), self.batch_size, self.seed)
        return DataLoader(ds, batch_sampler=sampler, num_workers=self.num_workers)

    def _eval_loader(self, gs: GridSet, max_items: int = 0) -> DataLoader:
        if max_items:
            gs = gs.take(np.arange(min(max_items, len(gs))))
        return DataLoader(GridDataset(gs), batch_size=self.eval_batch_size, shuffle=False,
                          num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        """The validation split (the first ``val_max_items`` when set): what picks the checkpoint."""
        return self._eval_loader(self.val_set, self.val_max_items)

    def test_dataloader(self) -> DataLoader:
        """The whole test split, for final evaluation only."""
        return self._eval_loader(self.test_set)
