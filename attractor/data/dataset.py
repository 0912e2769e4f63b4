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
from attractor.io import write_text
from attractor.data.sampling import StepBatchSampler

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
    """Reads ``data_dir/{train,test}.csv`` when present, else generates from the seed (and caches).

    The test split serves as validation and test; it is never augmented.
    """

    vocab_size: int
    seq_len: int

    def __init__(self, data_dir: str | os.PathLike | None, n_train: int | None, n_test: int | None, seed: int,
                 augment: bool, batch_size: int, num_workers: int):
        super().__init__()
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.n_train, self.n_test, self.seed = n_train, n_test, seed
        self.augment, self.batch_size, self.num_workers = augment, batch_size, num_workers
        self.eval_batch_size, self.val_max_items = batch_size, 0  # the harness may raise both
        self.train_set: GridSet | None = None
        self.test_set: GridSet | None = None

    # -- what each puzzle supplies ------------------------------------------------------------
    def generation_params(self) -> dict[str, Any]:
        raise NotImplementedError

    def generate(self) -> tuple[GridSet, GridSet]:
        raise NotImplementedError

    def read(self, path: Path) -> GridSet:
        raise NotImplementedError

    def write(self, path: Path, gs: GridSet) -> None:
        raise NotImplementedError

    def augment_fn(self) -> Augment:
        raise NotImplementedError

    # -- shared logic ---------------------------------------------------------------------------
    def _files(self) -> tuple[Path, Path] | None:
        if self.data_dir is None:
            return None
        return self.data_dir / "train.csv", self.data_dir / "test.csv"

    def prepare_data(self) -> None:
        files = self._files()
        if files is None or all(f.exists() for f in files):
            return
        train, test = self.generate()
        self.write(files[0], train)
        self.write(files[1], test)
        meta = self.data_dir / "meta.json"
        write_text(meta, json.dumps(self.generation_params(), indent=1, sort_keys=True))

    def _subset(self, gs: GridSet, n: int | None, salt: int) -> GridSet:
        if n is None or n >= len(gs):
            return gs
        idx = np.sort(np.random.default_rng([self.seed, salt]).choice(len(gs), n, replace=False))
        return gs.take(idx)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        files = self._files()
        if files is None:
            self.train_set, self.test_set = self.generate()
        else:
            self.prepare_data()
            meta = self.data_dir / "meta.json"
            if meta.exists() and json.loads(meta.read_text()) != json.loads(json.dumps(self.generation_params())):
                raise ValueError(f"{self.data_dir} was generated with {meta.read_text().strip()}, "
                                 f"not {self.generation_params()}: use another data_dir or delete it")
            self.train_set = self._subset(self.read(files[0]), self.n_train, 0)
            self.test_set = self._subset(self.read(files[1]), self.n_test, 1)
        for name, gs in (("train", self.train_set), ("test", self.test_set)):
            if gs.q.shape[1] != self.seq_len:
                raise ValueError(f"{name} grids have {gs.q.shape[1]} cells, this datamodule expects {self.seq_len}")

    def train_dataloader(self) -> DataLoader:
        """Batches as a function of the global step (see StepBatchSampler), so resuming replays them."""
        ds = GridDataset(self.train_set, self.augment_fn() if self.augment else None, self.seed)
        sampler = StepBatchSampler.following(self.trainer, len(ds), self.batch_size, self.seed)
        return DataLoader(ds, batch_sampler=sampler, num_workers=self.num_workers)

    def _eval_loader(self, max_items: int = 0) -> DataLoader:
        ds = GridDataset(self.test_set if not max_items else self.test_set.take(np.arange(min(max_items, len(self.test_set)))))
        return DataLoader(ds, batch_size=self.eval_batch_size, shuffle=False, num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader(self.val_max_items)

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader()
