"""The prepared-corpus format: ``train.bin``, ``val.bin`` and ``test.bin`` (flat token arrays, native
byte order, memory-mappable), ``tokenizer.json`` and ``meta.json`` describing them, all in one folder."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from attractor.data.grid_csv import DataFormatError

META = "meta.json"
SPLITS = ("train", "val", "test")
FORMAT_VERSION = 2  # 2: a held-out test split beside train and val


def shard_dtype(vocab_size: int) -> np.dtype:
    """The narrowest unsigned type that holds every id: half the disk and page cache of uint32."""
    return np.dtype(np.uint16 if vocab_size <= 2**16 else np.uint32)


def shard_path(data_dir: str | os.PathLike, split: str) -> Path:
    return Path(data_dir) / f"{split}.bin"


def read_meta(data_dir: str | os.PathLike) -> dict[str, Any]:
    """``meta.json``, after checking its format and that each shard holds exactly the tokens it promises."""
    data_dir = Path(data_dir)
    path = data_dir / META
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; prepare the corpus with "
                                f"`python -m attractor.data.text prepare --out {data_dir} ...`")
    meta = json.loads(path.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT_VERSION:
        raise DataFormatError(path, None, f"format {meta.get('format')}, not {FORMAT_VERSION} (train/val/test "
                                          f"shards); prepare the corpus again")
    itemsize = np.dtype(meta["dtype"]).itemsize
    for split in SPLITS:
        shard = shard_path(data_dir, split)
        expected = meta["tokens"][split] * itemsize
        actual = shard.stat().st_size if shard.is_file() else None
        if actual != expected:
            raise DataFormatError(shard, None, f"holds {actual} bytes, but {path} promises {meta['tokens'][split]} "
                                               f"{meta['dtype']} tokens ({expected} bytes); prepare the corpus again")
    return meta


def open_shard(data_dir: str | os.PathLike, split: str, meta: dict[str, Any]) -> np.ndarray:
    """A read-only memory map: nothing is loaded until a window is read."""
    return np.memmap(shard_path(data_dir, split), dtype=meta["dtype"], mode="r")
