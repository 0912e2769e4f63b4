"""Tokenizers for language-model corpora: characters, or a byte-level BPE trained locally.

Both are saved as one ``tokenizer.json`` beside the shards; :func:`load_tokenizer` tells them apart
by the file's content (a char file has ``"kind": "char"``, a BPE file is a Hugging Face tokenizer),
so a tokenizer from an earlier run or from a local Hugging Face model folder loads the same way.
``fingerprint`` hashes the vocabulary, so a shard can be checked against the tokenizer it was
encoded with. ``tokenizers`` (an optional dependency) is imported only when a BPE is used.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from attractor.io import write_text

if TYPE_CHECKING:
    import tokenizers

FILENAME = "tokenizer.json"


class UnknownCharacterError(ValueError):
    """Text holds a character outside a char tokenizer's vocabulary; ``line`` is 1-based in that text."""

    def __init__(self, char: str, line: int):
        self.char, self.line = char, line
        super().__init__(f"line {line}: character {char!r} is not in the vocabulary")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CharTokenizer:
    """One token per Unicode code point, the vocabulary being the corpus's characters, sorted."""

    kind = "char"

    def __init__(self, chars: Iterable[str]):
        self.chars = sorted(set(chars))
        if not self.chars or any(len(c) != 1 for c in self.chars):
            raise ValueError("a char vocabulary needs at least one single-character entry")
        self._codes = np.array([ord(c) for c in self.chars], dtype=np.uint32)

    @classmethod
    def train(cls, texts: Iterable[str]) -> CharTokenizer:
        seen: set[str] = set()
        for text in texts:
            seen.update(text)
        return cls(seen)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    @property
    def fingerprint(self) -> str:
        return _sha256(json.dumps(self.chars))

    def encode(self, text: str) -> np.ndarray:
        """Vectorised: code points are looked up in the sorted vocabulary by binary search."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        ids = np.searchsorted(self._codes, codes)
        bad = (ids >= len(self._codes)) | (self._codes[np.minimum(ids, len(self._codes) - 1)] != codes)
        if bad.any():
            at = int(np.argmax(bad))
            raise UnknownCharacterError(text[at], text.count("\n", 0, at) + 1)
        return ids.astype(np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def save(self, path: str | os.PathLike) -> None:
        write_text(path, json.dumps({"kind": self.kind, "chars": self.chars}, ensure_ascii=False))


class BPETokenizer:
    """A Hugging Face ``tokenizers`` byte-level BPE: any UTF-8 text round-trips, nothing is unknown."""

    kind = "bpe"

    def __init__(self, tokenizer: tokenizers.Tokenizer):
        self.tokenizer = tokenizer

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int) -> BPETokenizer:
        """Train on ``texts`` locally; the 256 byte symbols are always in the vocabulary."""
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        if vocab_size < 256:
            raise ValueError(f"a byte-level BPE needs vocab_size >= 256, got {vocab_size}")
        tok = HFTokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(texts, trainer=trainer)
        return cls(tok)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def fingerprint(self) -> str:
        return _sha256(self.tokenizer.to_str())

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self.tokenizer.encode(text, add_special_tokens=False).ids, dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)

    def save(self, path: str | os.PathLike) -> None:
        write_text(path, self.tokenizer.to_str())


Tokenizer = CharTokenizer | BPETokenizer


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """Load a saved tokenizer: a ``tokenizer.json`` file, or a folder holding one (a prepared
    corpus, or a local Hugging Face model folder)."""
    path = Path(path)
    file = path / FILENAME if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no tokenizer file")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{file}: not a tokenizer file ({e})") from None
    if data.get("kind") == CharTokenizer.kind:
        return CharTokenizer(data["chars"])
    if "model" in data:
        from tokenizers import Tokenizer as HFTokenizer

        return BPETokenizer(HFTokenizer.from_file(str(file)))
    raise ValueError(f"{file}: neither a char tokenizer nor a Hugging Face tokenizer.json")
