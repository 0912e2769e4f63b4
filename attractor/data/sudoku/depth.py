"""Reasoning depth of a Sudoku: rounds of constraint propagation by singles (numba).

One round finds every naked single (a blank cell with one candidate) and every hidden single (a
digit with one possible cell in a row, column or box) against the current grid, and fills them
all at once; the depth is the number of rounds until the grid is full. Each round is one parallel
step of purely local inference, so the depth is a difficulty a fixed-depth network has to match
with layers or iterations, unlike the solver's guess count (``rating``), which measures search.

A puzzle that singles alone cannot finish (a round that fills nothing) gets :data:`NEEDS_SEARCH`;
so does a contradictory one (a cell with no candidate, or two values for one cell).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from attractor.data.parallel import parallel_njit
from attractor.data.sudoku.solver import box_shape

NEEDS_SEARCH = -1


@njit(cache=True)
def _units(n, br, bc):
    """(3n, n) cell indices of every row, column and box."""
    units = np.empty((3 * n, n), np.int64)
    per_band = n // bc
    for u in range(n):
        r0, c0 = (u // per_band) * br, (u % per_band) * bc
        for k in range(n):
            units[u, k] = u * n + k
            units[n + u, k] = k * n + u
            units[2 * n + u, k] = (r0 + k // bc) * n + c0 + k % bc
    return units


@njit(cache=True)
def _rounds(grid, n, units):
    N = n * n
    full = (1 << n) - 1
    g = grid.copy()
    seen = np.zeros(3 * n, np.int64)  # digits present per unit
    cand = np.zeros(N, np.int64)
    place = np.zeros(N, np.int64)
    rounds = 0
    while True:
        seen[:] = 0
        blanks = 0
        for u in range(3 * n):
            for k in range(n):
                v = g[units[u, k]]
                if v:
                    bit = 1 << (v - 1)
                    if seen[u] & bit:
                        return NEEDS_SEARCH  # a digit twice in a unit
                    seen[u] |= bit
        for i in range(N):
            cand[i] = 0
            place[i] = 0
        for u in range(3 * n):
            for k in range(n):
                i = units[u, k]
                if g[i] == 0:
                    if u < n:
                        blanks += 1
                        cand[i] = full
                    cand[i] &= ~seen[u]
        if blanks == 0:
            return rounds
        found = 0
        for i in range(N):  # naked singles
            if g[i] == 0:
                m = cand[i]
                if m == 0:
                    return NEEDS_SEARCH
                if m & (m - 1) == 0:
                    d = 1
                    while m > 1:
                        m >>= 1
                        d += 1
                    place[i] = d
                    found += 1
        for u in range(3 * n):  # hidden singles
            for d in range(1, n + 1):
                bit = 1 << (d - 1)
                if seen[u] & bit:
                    continue
                where, count = -1, 0
                for k in range(n):
                    i = units[u, k]
                    if g[i] == 0 and cand[i] & bit:
                        where, count = i, count + 1
                if count == 0:
                    return NEEDS_SEARCH  # a missing digit with nowhere to go
                if count == 1:
                    if place[where] == 0:
                        place[where] = d
                        found += 1
                    elif place[where] != d:
                        return NEEDS_SEARCH
        if found == 0:
            return NEEDS_SEARCH
        for i in range(N):
            if place[i]:
                g[i] = place[i]
        rounds += 1


@parallel_njit
def _rounds_batch(grids, n, units):
    out = np.zeros(grids.shape[0], np.int64)
    for j in prange(grids.shape[0]):
        out[j] = _rounds(grids[j], n, units)
    return out


def propagation_depth(puzzles: np.ndarray) -> np.ndarray:
    """Rounds of singles each puzzle (B, n*n) or (n*n,), codes 0 blank / 1..n, needs; -1: needs search."""
    grids = np.ascontiguousarray(np.atleast_2d(np.asarray(puzzles, dtype=np.int64)))
    n = int(round(grids.shape[1] ** 0.5))
    if n * n != grids.shape[1]:
        raise ValueError(f"puzzle length {grids.shape[1]} is not a square")
    br, bc = box_shape(n)
    return _rounds_batch(grids, n, _units(n, br, bc))
