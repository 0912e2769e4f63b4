"""A text corpus on disk: which files, their checked UTF-8 text, and the train/val/test split by chunk.

A document (one file) is cut into chunks of whole lines; each chunk goes wholly to train, val or
test, drawn by a seed, so the split is reproducible and written down as byte ranges. Cutting after a
newline byte is always a UTF-8 character boundary.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from attractor.data.grid_csv import DataFormatError

MAX_CHUNK_BYTES = 16_384  # long enough that a chunk boundary rarely matters, short enough to mix


def list_files(inputs: list[str | os.PathLike]) -> list[Path]:
    """The files named, and every non-hidden file under the folders named (sorted), resolved."""
    files: list[Path] = []
    for given in inputs:
        path = Path(given)
        if path.is_file():
            files.append(path.resolve())
        elif path.is_dir():
            files.extend(sorted(p.resolve() for p in path.rglob("*")
                                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)))
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return files


def read_document(path: Path) -> bytes:
    """The file's bytes, once checked to be UTF-8 text; a binary or mis-encoded file is an error
    naming the file and line, since silently skipping it would change the corpus unnoticed."""
    data = path.read_bytes()
    nul = data.find(b"\0")
    if nul >= 0:
        raise DataFormatError(path, data.count(b"\n", 0, nul) + 1, f"binary file (NUL byte at offset {nul})")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataFormatError(path, data.count(b"\n", 0, e.start) + 1,
                              f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})") from None
    return data


def chunk_bytes_for(total_bytes: int) -> int:
    """Default chunk size: a hundredth of the corpus, at most MAX_CHUNK_BYTES, so that even a small
    corpus has enough chunks to split at the requested fraction."""
    return max(1, min(MAX_CHUNK_BYTES, total_bytes // 100))


def chunk_bounds(data: bytes, chunk_bytes: int) -> list[tuple[int, int]]:
    """Cut ``data`` after the first newline at or past every ``chunk_bytes`` (no newline: one chunk)."""
    bounds, start = [], 0
    while start < len(data):
        cut = data.find(b"\n", start + chunk_bytes - 1)
        end = len(data) if cut < 0 else cut + 1
        bounds.append((start, end))
        start = end
    return bounds


def split_chunks(n_chunks: int, val_fraction: float, test_fraction: float, seed: int) -> np.ndarray:
    """The split (``"train"``, ``"val"`` or ``"test"``) of each chunk: ``round(fraction * n)`` chunks,
    at least one, for val and for test, and at least one left for train.

    Val is drawn first from all chunks, as before there was a test split, so a corpus keeps its val
    text; test is then drawn from the rest."""
    for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 < fraction < 1:
            raise ValueError(f"{name} must be in (0, 1), got {fraction}")
    n_val, n_test = (max(1, round(fraction * n_chunks)) for fraction in (val_fraction, test_fraction))
    if n_val + n_test >= n_chunks:
        raise ValueError(f"the corpus makes {n_chunks} chunk(s), but {n_val} val + {n_test} test + 1 train needs at "
                         f"least {n_val + n_test + 1} (add text, pass a smaller chunk_bytes or smaller fractions)")
    rng = np.random.default_rng(seed)
    splits = np.full(n_chunks, "train", dtype=object)
    splits[rng.choice(n_chunks, n_val, replace=False)] = "val"
    splits[rng.choice(np.flatnonzero(splits == "train"), n_test, replace=False)] = "test"
    return splits


def merge_ranges(bounds: list[tuple[int, int]]) -> list[list[int]]:
    """Adjacent ``(start, end)`` chunks as ``[start, end]`` ranges, for a short meta.json."""
    ranges: list[list[int]] = []
    for start, end in bounds:
        if ranges and ranges[-1][1] == start:
            ranges[-1][1] = end
        else:
            ranges.append([start, end])
    return ranges
