"""The three splits of a puzzle set and how they are kept apart under the puzzle's symmetries.

Validation picks the checkpoint, so it must be as far from the test set as training is: no
validation puzzle is a symmetric variant of a test puzzle, nor of a training puzzle, whether the
splits are generated here (:func:`generate_splits`) or carved out of a training file read from
elsewhere (:func:`carve_val`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from attractor.data.gridset import GridSet
from attractor.data.leakage import Key, SymmetryIndex, find_leaks

SPLITS = ("train", "val", "test")

# Validation chains continue the training stream from this chain index on: the same generator and
# seed as train, but chains no training set ever reaches, so train and test stay as they were.
VAL_FIRST_CHAIN = 2**40


@dataclass
class Splits:
    """Train, validation and test sets; ``val`` is None when none was asked for."""

    train: GridSet
    test: GridSet
    val: GridSet | None = None


class Generator(Protocol):
    """A puzzle generator with its puzzle's parameters bound (e.g. size, blanks)."""

    def __call__(self, count: int, *, seed: int, source: str, exclude: np.ndarray | None = None,
                 first_chain: int = 0) -> GridSet: ...


def generate_splits(generate: Generator, n_train: int, n_test: int, seed: int, n_val: int = 0,
                    generate_test: Generator | None = None) -> Splits:
    """Train (stream ``2 seed``), test (stream ``2 seed + 1``, rejecting variants of train) and,
    when ``n_val``, validation from the training stream's chains past :data:`VAL_FIRST_CHAIN`,
    rejecting variants of train and test. Train and test do not depend on ``n_val``.

    ``generate_test`` draws the test set from another distribution than train and validation
    (e.g. deeper puzzles); by default ``generate`` draws all three."""
    train = generate(n_train, seed=2 * seed, source="generated-train")
    test = (generate_test or generate)(n_test, seed=2 * seed + 1, source="generated-test", exclude=train.q)
    val = None
    if n_val:
        val = generate(n_val, seed=2 * seed, source="generated-val", exclude=np.concatenate([train.q, test.q]),
                       first_chain=VAL_FIRST_CHAIN)
    return Splits(train, test, val)


def carve_val(train: GridSet, test: GridSet, n_val: int | None, seed: int, canonical: Key, invariant: Key | None,
              path: str | os.PathLike) -> tuple[GridSet, GridSet]:
    """Split a read-in training set (from ``path``) into (train, val).

    ``n_val`` rows are drawn in a seeded order, skipping rows that are symmetric variants of a test
    row; they leave training, and so does every remaining row that is a variant of one of them.
    """
    if n_val is None:
        raise ValueError(f"n_val: needed to carve a validation split out of {path} (no val.csv beside it)")
    if n_val >= len(train):
        raise ValueError(f"n_val={n_val} is not smaller than the {len(train)} rows of {path}: "
                         f"nothing would be left to train on")
    near_test = SymmetryIndex(canonical, invariant)
    for codes in test.q:
        near_test.add(codes)
    chosen: list[int] = []
    for i in np.random.default_rng([seed, 2]).permutation(len(train)):
        if near_test.find(train.q[i]) is None:
            chosen.append(int(i))
            if len(chosen) == n_val:
                break
    if len(chosen) < n_val:
        raise ValueError(f"n_val={n_val}: only {len(chosen)} rows of {path} are not symmetric variants of a "
                         f"test puzzle")
    val = train.take(np.sort(chosen))
    rest = np.setdiff1d(np.arange(len(train)), chosen)
    variants = {j for j, _ in find_leaks(val.q, train.q[rest], canonical, invariant)}
    return train.take([i for j, i in enumerate(rest) if j not in variants]), val
