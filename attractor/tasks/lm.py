"""Language modelling as a LightningModule: next-token cross-entropy, perplexity, bits per byte.

:class:`LMDataModule` prepares the corpus named in ``task.data`` (once; ``prepare_corpus`` skips a
folder that already holds it) and draws training windows as a pure function of the global step, so
a resumed run sees exactly the windows of an uninterrupted one. :class:`LMTask` trains any of the
three causal models on it; validation is over the whole val split unless ``train.val_max_items``.
The prepared corpus also holds a held-out test split (``test_fraction``), which training never reads:
only ``eval.py`` (``evaluate_lm_checkpoint``) scores it.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset

from attractor.config import require
from attractor.data.sampling import StepBatchSampler
from attractor.data.text import TextDataModule, prepare_corpus
from attractor.tasks.base import SequenceTask
from attractor.tasks.config import Run

Tensor = torch.Tensor
PREPARE_ROOT = Path("data_cache") / "text"


def next_token_nll(logits: Tensor, labels: Tensor) -> Tensor:
    """Summed next-token cross-entropy in nats (summed, so batches of any size add up exactly)."""
    return F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), reduction="sum")


def bits_per_byte(loss: float, meta: dict[str, Any], split: str = "val") -> float:
    """Mean loss in nats per token as bits per UTF-8 byte of the split's text: comparable across
    tokenizers, unlike perplexity. Uses the split's whole token and byte counts from ``meta.json``."""
    return loss / math.log(2) * meta["tokens"][split] / meta["bytes"][split]


def default_prepare_dir(inputs: Sequence[str], settings: dict[str, Any]) -> Path:
    """``data_cache/text/<first input>-<tokenizer>-<hash of the settings>``: one folder per corpus
    and settings, so switching settings never re-prepares another run's folder in place."""
    digest = hashlib.sha256(json.dumps([[str(Path(p).resolve()) for p in inputs], settings],
                                       sort_keys=True).encode()).hexdigest()[:10]
    return PREPARE_ROOT / f"{Path(inputs[0]).stem}-{settings['tokenizer']}-{digest}"


class StepWindowSampler(StepBatchSampler):
    """Window starts drawn with replacement, seeded by (seed, step): a pure function of the step,
    like the puzzles' batches, but O(batch) per step at any corpus size (no permutation)."""

    def batch(self, step: int) -> np.ndarray:
        return np.random.default_rng([self.seed, step]).integers(0, self.n_items, self.batch_size)


class _ByIndex(Dataset):
    """Adapts the sampler's ``(index, step)`` keys to a dataset indexed by position."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Tensor]:
        return self.dataset[key[0]]


class LMDataModule(TextDataModule):
    """``task.data`` of the lm task: the corpus (``inputs``, tokenizer, split) and the window order.

    ``seed`` orders the training windows (the configs tie it to the run's seed); ``split_seed``
    draws the train/val/test split and stays fixed, so every run is validated on the same val text
    and tested on the same test text. ``val_fraction`` and ``test_fraction`` are the shares of the
    corpus's chunks drawn for val (validation during training, picks best.ckpt) and for test (the
    evaluator's default split).
    """

    def __init__(self, batch_size: int, seq_len: int, inputs: list[str], tokenizer: str = "char",
                 vocab_size: int | None = None, val_fraction: float = 0.1, split_seed: int = 0,
                 chunk_bytes: int | None = None, tokenizer_from: str | None = None, prepare_dir: str | None = None,
                 seed: int = 0, num_workers: int = 0, test_fraction: float = 0.1):
        if not inputs:
            raise ValueError("task.data.inputs: empty; name at least one text file or folder")
        settings = dict(tokenizer=tokenizer, vocab_size=vocab_size, val_fraction=val_fraction,
                        test_fraction=test_fraction, seed=split_seed, chunk_bytes=chunk_bytes,
                        tokenizer_from=tokenizer_from)
        out_dir = Path(prepare_dir) if prepare_dir else default_prepare_dir(inputs, settings)
        super().__init__(prepare_corpus(list(inputs), out_dir, **settings), seq_len, batch_size, seed, num_workers)
        self.eval_batch_size, self.val_max_items = batch_size, 0  # the harness may raise both

    def train_dataloader(self) -> DataLoader:
        """Windows as a function of the global step (see StepWindowSampler), so resuming replays them."""
        sampler = StepWindowSampler.following(self.trainer, len(self.train_set), self.batch_size, self.seed)
        return DataLoader(_ByIndex(self.train_set), batch_sampler=sampler, num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        ds = self.val_set
        if self.val_max_items:
            ds = Subset(ds, range(min(self.val_max_items, len(ds))))
        return DataLoader(ds, batch_size=self.eval_batch_size, shuffle=False, num_workers=self.num_workers)


class LMTask(SequenceTask):
    """Causal LM training: loss = mean next-token cross-entropy + the model's aux loss."""

    datamodule = LMDataModule

    def __init__(self, run: Run):
        require(run.train.supervision_steps == 1, "train.supervision_steps",
                f"deep supervision is a puzzle recipe; lm trains one segment, got {run.train.supervision_steps}")
        require(run.task.causal, "task.causal", "a language model must be causal")
        super().__init__(run)
        self._val_nll = self._val_tokens = 0.0
        self._val_mode_nll: dict[str, Tensor | float] = {}

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        inputs, labels = batch["inputs"], batch["labels"]
        out = self(inputs)
        loss = self.supervised(out, lambda logits: next_token_nll(logits, labels) / labels.numel())
        if out.aux_loss is not None:
            loss = loss + out.aux_loss
        self.log_train_step(loss, [out], inputs.shape[0])
        return loss

    def on_validation_epoch_start(self) -> None:
        super().on_validation_epoch_start()
        self._val_nll = self._val_tokens = 0.0
        self._val_mode_nll = dict.fromkeys(self.run.train.val_modes, 0.0)

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        inputs, labels = batch["inputs"], batch["labels"]
        out = self(inputs)
        self._val_nll = self._val_nll + next_token_nll(out.logits, labels).detach()
        self._val_tokens += labels.numel()
        self.tally_validation(out)
        for mode in self._val_mode_nll:  # train.val_modes: e.g. the solver removed, over training
            self._val_mode_nll[mode] = self._val_mode_nll[mode] + next_token_nll(self(inputs, mode=mode).logits, labels).detach()
        if "iterations" in out.stats:
            self.log("val/iterations", out.stats["iterations"].float().mean(), on_epoch=True,
                     batch_size=inputs.shape[0], sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        """Perplexity and bits per byte from the token-weighted mean loss over the whole val set
        (not a mean of per-batch perplexities); the solve health (the base class)."""
        super().on_validation_epoch_end()
        loss = float(self._val_nll) / max(self._val_tokens, 1)
        logs = {"val/loss": loss, "val/ppl": math.exp(min(loss, 50.0)), "val/score": -loss}
        logs |= {f"val/{mode}/loss": float(nll) / max(self._val_tokens, 1) for mode, nll in self._val_mode_nll.items()}
        if self.trainer.datamodule is not None:  # None when dataloaders are passed without a datamodule
            logs["val/bpb"] = bits_per_byte(loss, self.trainer.datamodule.meta)
        self.log_dict(logs, on_epoch=True, sync_dist=True, prog_bar=True)
