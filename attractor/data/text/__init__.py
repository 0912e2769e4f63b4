"""Language-model text data: tokenizers, corpus preparation into token shards, and a windowed DataModule.

``python -m attractor.data.text prepare ...`` (see docs/lm_data.md) or :func:`prepare_corpus` from
Python; then :class:`TextDataModule` reads the folder.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_HOMES = {"TextDataModule": "dataset", "prepare": "prepare", "prepare_corpus": "prepare", "BPETokenizer": "tokenizer",
          "CharTokenizer": "tokenizer", "Tokenizer": "tokenizer", "load_tokenizer": "tokenizer"}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    # Lazy, so that the prepare CLI starts without importing torch and Lightning (seconds).
    if name in _HOMES:
        return getattr(import_module(f"attractor.data.text.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'attractor.data.text' has no attribute {name!r}")
