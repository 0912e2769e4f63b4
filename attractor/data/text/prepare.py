"""Turn text files into token shards: train a tokenizer (or load one), split by chunk, encode, write.

Everything lands in one folder (see ``shards.py``); ``meta.json`` is written last, so a folder with a
meta.json is a complete corpus, and it records the settings, which byte ranges of which file went
to train, val and test, the tokenizer's fingerprint, the dtype and the token and byte counts.
"""
from __future__ import annotations

import hashlib
import os
from contextlib import ExitStack

import numpy as np
from pathlib import Path
from typing import Any, BinaryIO

from attractor.data.grid_csv import DataFormatError
from attractor.data.text.corpus import (chunk_bounds, chunk_bytes_for, list_files, merge_ranges, read_document,
                                        split_chunks)
from attractor.data.text.shards import FORMAT_VERSION, META, SPLITS, read_meta, shard_dtype, shard_path
from attractor.data.text.tokenizer import (FILENAME, BPETokenizer, CharTokenizer, Tokenizer, UnknownCharacterError,
                                           load_tokenizer)
from attractor.io import atomic_path, write_json

DEFAULT_BPE_VOCAB = 4096


def _settings(inputs: list[str | os.PathLike], tokenizer: str | None, vocab_size: int | None, val_fraction: float,
              seed: int, tokenizer_from: str | os.PathLike | None, chunk_bytes: int | None,
              test_fraction: float) -> dict[str, Any]:
    """The settings that define a prepared corpus, normalised so that equal requests compare equal."""
    if tokenizer_from is None and tokenizer not in ("char", "bpe"):
        raise ValueError(f"tokenizer must be 'char' or 'bpe' (or give tokenizer_from), got {tokenizer!r}")
    if vocab_size is not None and (tokenizer_from is not None or tokenizer == "char"):
        raise ValueError("vocab_size applies only to a BPE trained here; a char or reused tokenizer fixes its own")
    if tokenizer == "bpe" and tokenizer_from is None:
        vocab_size = vocab_size or DEFAULT_BPE_VOCAB
    if chunk_bytes is not None and chunk_bytes < 1:
        raise ValueError(f"chunk_bytes must be >= 1, got {chunk_bytes}")
    return dict(inputs=[str(Path(p).resolve()) for p in inputs], tokenizer=tokenizer, vocab_size=vocab_size,
                val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, chunk_bytes=chunk_bytes,
                tokenizer_from=None if tokenizer_from is None else str(Path(tokenizer_from).resolve()))


def _tokenizer(settings: dict[str, Any], files: list[Path]) -> Tokenizer:
    if settings["tokenizer_from"] is not None:
        tok = load_tokenizer(settings["tokenizer_from"])
        if settings["tokenizer"] not in (None, tok.kind):
            raise ValueError(f"{settings['tokenizer_from']} is a {tok.kind} tokenizer, not {settings['tokenizer']}")
        return tok
    texts = (read_document(f).decode("utf-8") for f in files)
    if settings["tokenizer"] == "char":
        return CharTokenizer.train(texts)
    return BPETokenizer.train(texts, settings["vocab_size"])


def _encode_file(path: Path, data: bytes, bounds: list[tuple[int, int]], tok: Tokenizer) -> list[np.ndarray]:
    """Token arrays of each chunk, encoded separately so that no token spans two chunks."""
    out, line = [], 1
    for start, end in bounds:
        text = data[start:end].decode("utf-8")
        try:
            out.append(tok.encode(text))
        except UnknownCharacterError as e:
            raise DataFormatError(path, line + e.line - 1,
                                  f"character {e.char!r} is not in the tokenizer's vocabulary") from None
        line += text.count("\n")
    return out


def _open_shard(stack: ExitStack, out_dir: Path, split: str) -> BinaryIO:
    """A temporary file that replaces ``split``'s shard when ``stack`` closes without an error."""
    return stack.enter_context(open(stack.enter_context(atomic_path(shard_path(out_dir, split))), "wb"))


def prepare(inputs: list[str | os.PathLike], out_dir: str | os.PathLike, tokenizer: str | None = "char",
            vocab_size: int | None = None, val_fraction: float = 0.1, seed: int = 0,
            tokenizer_from: str | os.PathLike | None = None, chunk_bytes: int | None = None,
            test_fraction: float = 0.1) -> dict[str, Any]:
    """Prepare ``out_dir`` from ``inputs`` (files or folders), replacing what is there; returns meta."""
    settings = _settings(inputs, tokenizer, vocab_size, val_fraction, seed, tokenizer_from, chunk_bytes, test_fraction)
    out_dir = Path(out_dir)
    files = list_files(inputs)
    total = sum(f.stat().st_size for f in files)
    if total == 0:
        raise ValueError(f"empty corpus: no text in {', '.join(map(str, inputs))}")
    size = chunk_bytes or chunk_bytes_for(total)
    bounds = [chunk_bounds(read_document(f), size) for f in files]
    chunk_splits = np.split(split_chunks(sum(map(len, bounds)), val_fraction, test_fraction, seed),
                            np.cumsum([len(b) for b in bounds])[:-1])
    tok = _tokenizer(settings, files)
    dtype = shard_dtype(tok.vocab_size)

    (out_dir / META).unlink(missing_ok=True)  # the folder is incomplete until the new meta lands
    tokens, nbytes, records = dict.fromkeys(SPLITS, 0), dict.fromkeys(SPLITS, 0), []
    with ExitStack() as stack:
        outs = {s: _open_shard(stack, out_dir, s) for s in SPLITS}
        for path, file_bounds, file_splits in zip(files, bounds, chunk_splits):
            data = read_document(path)
            ranges: dict[str, list[tuple[int, int]]] = {s: [] for s in SPLITS}
            for (start, end), ids, split in zip(file_bounds, _encode_file(path, data, file_bounds, tok), file_splits):
                outs[split].write(ids.astype(dtype).tobytes())
                tokens[split] += len(ids)
                nbytes[split] += end - start
                ranges[split].append((start, end))
            records.append({"path": str(path), "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                            **{s: merge_ranges(r) for s, r in ranges.items()}})
    tok.save(out_dir / FILENAME)
    meta = {"format": FORMAT_VERSION, "settings": settings, "chunk_bytes": size,
            "tokenizer": {"kind": tok.kind, "file": FILENAME, "fingerprint": tok.fingerprint,
                          "vocab_size": tok.vocab_size},
            "dtype": dtype.name, "tokens": tokens, "bytes": nbytes, "files": records}
    write_json(out_dir / META, meta)
    return meta


def _is_prepared(out_dir: Path, settings: dict[str, Any]) -> bool:
    """Whether ``out_dir`` holds a complete corpus made with these settings from these exact files."""
    try:
        meta = read_meta(out_dir)
    except (FileNotFoundError, DataFormatError):
        return False
    if meta["settings"] != settings:
        return False
    files = list_files(settings["inputs"])
    if [r["path"] for r in meta["files"]] != [str(f) for f in files]:
        return False
    if any(hashlib.sha256(f.read_bytes()).hexdigest() != r["sha256"] for f, r in zip(files, meta["files"])):
        return False
    return settings["tokenizer_from"] is None or \
        load_tokenizer(settings["tokenizer_from"]).fingerprint == meta["tokenizer"]["fingerprint"]


def prepare_corpus(inputs: list[str | os.PathLike], out_dir: str | os.PathLike, tokenizer: str | None = "char",
                   vocab_size: int | None = None, val_fraction: float = 0.1, seed: int = 0,
                   tokenizer_from: str | os.PathLike | None = None, chunk_bytes: int | None = None,
                   test_fraction: float = 0.1) -> Path:
    """Prepare ``out_dir`` unless it already holds this corpus with these settings (then do nothing),
    so a training run can call it every time. Arguments as :func:`prepare`."""
    settings = _settings(inputs, tokenizer, vocab_size, val_fraction, seed, tokenizer_from, chunk_bytes, test_fraction)
    if not _is_prepared(Path(out_dir), settings):
        prepare(inputs, out_dir, tokenizer, vocab_size, val_fraction, seed, tokenizer_from, chunk_bytes, test_fraction)
    return Path(out_dir)
