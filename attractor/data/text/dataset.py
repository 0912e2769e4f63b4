"""Fixed-length windows over memory-mapped token shards, and the LightningDataModule serving them.

A window is ``seq_len + 1`` consecutive tokens: inputs are its first ``seq_len``, labels its last
``seq_len`` (the next token at every position). Train, val and test are separate files, so no window
can mix them. Train windows start anywhere, drawn by a seeded sampler (a new draw each epoch, the
same sequence on every run); val and test windows tile their shard in order, so their losses are
comparable between runs and models. Val is for validation during training, test for final
evaluation only.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from attractor.data.text.shards import SPLITS, open_shard, read_meta
from attractor.data.text.tokenizer import load_tokenizer


class WindowDataset(Dataset):
    """Item ``i`` is the window starting at token ``i * stride``: ``{"inputs", "labels"}`` LongTensors (T,).

    The memory map is opened lazily in each process (a pickled memmap would copy the whole shard
    into every DataLoader worker)."""

    def __init__(self, data_dir: Path, split: str, meta: dict[str, Any], seq_len: int, stride: int):
        self.data_dir, self.split, self.meta = data_dir, split, meta
        self.seq_len, self.stride = seq_len, stride
        self.n_tokens = meta["tokens"][split]
        self._tokens: np.ndarray | None = None

    def __len__(self) -> int:
        return (self.n_tokens - self.seq_len - 1) // self.stride + 1

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if self._tokens is None:
            self._tokens = open_shard(self.data_dir, self.split, self.meta)
        start = i * self.stride
        window = torch.from_numpy(self._tokens[start:start + self.seq_len + 1].astype(np.int64))
        return {"inputs": window[:-1], "labels": window[1:]}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_tokens": None}


class TextDataModule(L.LightningDataModule):
    """Serves a corpus prepared by ``python -m attractor.data.text prepare`` (or ``prepare_corpus``).

    One training epoch is ``train tokens // seq_len`` random windows (about one pass over the
    tokens). ``tokenizer_path``, when given, must be the tokenizer the shards were encoded with.
    ``vocab_size`` and ``seq_len`` are known on construction, so a model can be sized from them.
    """

    def __init__(self, data_dir: str | os.PathLike, seq_len: int, batch_size: int, seed: int = 0,
                 num_workers: int = 0, tokenizer_path: str | os.PathLike | None = None):
        super().__init__()
        self.data_dir = Path(data_dir)
        self.meta = read_meta(self.data_dir)
        self.seq_len, self.batch_size, self.seed, self.num_workers = seq_len, batch_size, seed, num_workers
        self.vocab_size: int = self.meta["tokenizer"]["vocab_size"]
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        for split in SPLITS:
            if self.meta["tokens"][split] < seq_len + 1:
                raise ValueError(f"{self.data_dir}/{split}.bin holds {self.meta['tokens'][split]} tokens, fewer than "
                                 f"one window of seq_len + 1 = {seq_len + 1}; use a shorter seq_len or more text")
        if tokenizer_path is not None:
            self._check_tokenizer(Path(tokenizer_path))

    def _check_tokenizer(self, path: Path) -> None:
        tok, made_with = load_tokenizer(path), self.meta["tokenizer"]
        if tok.fingerprint != made_with["fingerprint"]:
            raise ValueError(f"{self.data_dir} was encoded with another tokenizer ({made_with['kind']}, vocab "
                             f"{made_with['vocab_size']}, fingerprint {made_with['fingerprint'][:12]}) than {path} "
                             f"({tok.kind}, vocab {tok.vocab_size}, fingerprint {tok.fingerprint[:12]}); "
                             f"prepare the corpus again with --tokenizer-from {path}")

    def setup(self, stage: str | None = None) -> None:
        self.train_set = WindowDataset(self.data_dir, "train", self.meta, self.seq_len, stride=1)
        self.val_set = WindowDataset(self.data_dir, "val", self.meta, self.seq_len, stride=self.seq_len)
        self.test_set = WindowDataset(self.data_dir, "test", self.meta, self.seq_len, stride=self.seq_len)

    def train_dataloader(self) -> DataLoader:
        sampler = RandomSampler(self.train_set, replacement=True,
                                num_samples=self.meta["tokens"]["train"] // self.seq_len,
                                generator=torch.Generator().manual_seed(self.seed))
        return DataLoader(self.train_set, batch_size=self.batch_size, sampler=sampler, num_workers=self.num_workers,
                          drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader(self.test_set)

    def _eval_loader(self, windows: WindowDataset) -> DataLoader:
        return DataLoader(windows, batch_size=self.batch_size, shuffle=False, num_workers=self.num_workers)
