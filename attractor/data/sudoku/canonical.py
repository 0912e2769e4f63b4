"""Canonical form of a Sudoku under its symmetry group, for the leakage check.

The canonical form is the lexicographically smallest grid over every band/row/stack/column
permutation (and transpose for square boxes), with digits relabelled in order of first
appearance. Two puzzles are symmetric variants exactly when their canonical forms are equal.
The brute force (3.4M positional transforms for 9x9, ~0.1 s) is only run for puzzles whose cheap
invariant (:func:`invariant`) matches, so checking thousands of puzzles stays fast.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit

from attractor.data.sudoku.augment import line_maps
from attractor.data.sudoku.solver import box_shape


@njit(cache=True)
def _canonical(g, n, rowmaps, colmaps, allow_transpose):
    N = n * n
    best = np.full(N, n + 1, np.int64)
    cand = np.empty(N, np.int64)
    relabel = np.zeros(n + 1, np.int64)
    for t in range(2 if allow_transpose else 1):
        for a in range(rowmaps.shape[0]):
            for b in range(colmaps.shape[0]):
                relabel[:] = 0
                nxt = 1
                less = False
                worse = False
                for k in range(N):
                    r, c = k // n, k % n
                    if t == 0:
                        v = g[rowmaps[a, r] * n + colmaps[b, c]]
                    else:
                        v = g[rowmaps[a, c] * n + colmaps[b, r]]
                    if v:
                        if relabel[v] == 0:
                            relabel[v] = nxt
                            nxt += 1
                        v = relabel[v]
                    if not less:
                        if v > best[k]:
                            worse = True
                            break
                        if v < best[k]:
                            less = True
                    cand[k] = v
                if less and not worse:
                    best[:] = cand
    return best


@lru_cache(maxsize=None)
def _maps(size: int) -> tuple[np.ndarray, np.ndarray]:
    br, bc = box_shape(size)
    return line_maps(size, br), line_maps(size, bc)


def canonical(codes: np.ndarray) -> bytes:
    """Canonical form (as bytes) of one puzzle or grid given as codes (0 blank, 1..n)."""
    codes = np.asarray(codes, dtype=np.int64).ravel()
    n = int(round(len(codes) ** 0.5))
    br, bc = box_shape(n)
    rows, cols = _maps(n)
    return _canonical(codes, n, rows, cols, br == bc).astype(np.uint8).tobytes()


def invariant(codes: np.ndarray) -> bytes:
    """A cheap key equal for all symmetric variants (the converse need not hold)."""
    codes = np.asarray(codes, dtype=np.int64).ravel()
    n = int(round(len(codes) ** 0.5))
    br, bc = box_shape(n)
    g = codes.reshape(n, n) > 0
    rows, cols = np.sort(g.sum(1)), np.sort(g.sum(0))
    lines = sorted([rows.tolist(), cols.tolist()]) if br == bc else [rows.tolist(), cols.tolist()]
    boxes = np.sort(g.reshape(n // br, br, n // bc, bc).sum((1, 3)).ravel())
    digits = np.sort(np.bincount(codes, minlength=n + 1)[1:])
    return np.concatenate([np.ravel(lines), boxes, digits]).astype(np.uint8).tobytes()
