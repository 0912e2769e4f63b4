"""Leakage check: which test puzzles are symmetric variants of a training puzzle.

Puzzle-agnostic: it takes a cheap invariant and an exact canonical form, and computes canonical
forms only where invariants collide, so checking thousands of puzzles stays fast.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

Key = Callable[[np.ndarray], bytes]


class SymmetryIndex:
    """A set of puzzles answering "is this a symmetric variant of one of you?"."""

    def __init__(self, canonical: Key, invariant: Key | None = None):
        self.canonical, self.invariant = canonical, invariant or canonical
        self._rows: list[np.ndarray] = []
        self._canon: dict[int, bytes] = {}
        self._buckets: dict[bytes, list[int]] = {}

    def _canon_of(self, i: int) -> bytes:
        if i not in self._canon:
            self._canon[i] = self.canonical(self._rows[i])
        return self._canon[i]

    def find(self, codes: np.ndarray) -> int | None:
        """Index of a stored puzzle that ``codes`` is a variant of, or None."""
        bucket = self._buckets.get(self.invariant(codes))
        if not bucket:
            return None
        c = self.canonical(codes)
        return next((i for i in bucket if self._canon_of(i) == c), None)

    def add(self, codes: np.ndarray) -> None:
        self._rows.append(np.asarray(codes))
        self._buckets.setdefault(self.invariant(codes), []).append(len(self._rows) - 1)


def find_leaks(train: np.ndarray, test: np.ndarray, canonical: Key, invariant: Key | None = None,
               ) -> list[tuple[int, int]]:
    """Pairs (test index, train index) whose canonical forms are equal, one per leaking test row."""
    index = SymmetryIndex(canonical, invariant)
    for codes in train:
        index.add(codes)
    leaks = []
    for j, codes in enumerate(test):
        i = index.find(codes)
        if i is not None:
            leaks.append((j, i))
    return leaks
