"""A fast exact Sudoku solver (numba) that also rates difficulty.

Depth-first search with bitmask candidates and minimum-remaining-values: a cell with one
candidate is filled without counting, every trial value in a cell with two or more candidates
counts as one guess. The rating of a puzzle is the number of guesses needed to find its
solution *and* prove there is no second one, the same quantity as the public set's
"backtrack count" (numbers differ from tdoku's, so compare sets with this solver only).
Works for any n x n grid with br x bc boxes (n <= 16).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from attractor.data.parallel import parallel_njit
from attractor.data.rand import below

BOXES = {4: (2, 2), 6: (2, 3), 8: (2, 4), 9: (3, 3), 12: (3, 4), 16: (4, 4)}


def box_shape(size: int) -> tuple[int, int]:
    """Box rows and columns for an n x n Sudoku (4 -> 2x2, 6 -> 2x3, 9 -> 3x3)."""
    if size not in BOXES:
        raise ValueError(f"unsupported Sudoku size {size}; supported: {sorted(BOXES)}")
    return BOXES[size]


@njit(cache=True)
def _popcount(m: int) -> int:
    c = 0
    while m:
        m &= m - 1
        c += 1
    return c


@njit(cache=True)
def _pick(mask: int, rng: np.ndarray, randomize: bool) -> int:
    """Bit of the next value to try: the lowest one, or a random one when generating."""
    if not randomize:
        return mask & -mask
    k = below(rng, _popcount(mask))
    while k:
        mask &= mask - 1
        k -= 1
    return mask & -mask


@njit(cache=True)
def _digit(bit: int) -> int:
    d = 1
    while bit > 1:
        bit >>= 1
        d += 1
    return d


@njit(cache=True)
def solve_core(grid, n, br, bc, limit, rng, randomize, solution):
    """Search ``grid`` (0 = blank) for up to ``limit`` solutions.

    Returns (number of solutions found, guesses); the first solution goes into ``solution``.
    Contradictory givens give 0 solutions.
    """
    N = n * n
    full = (1 << n) - 1
    rows = np.zeros(n, np.int64)
    cols = np.zeros(n, np.int64)
    boxes = np.zeros(n, np.int64)
    ri = np.empty(N, np.int64)
    ci = np.empty(N, np.int64)
    bi = np.empty(N, np.int64)
    g = np.empty(N, np.int64)
    per_band = n // bc
    for i in range(N):
        r, c = i // n, i % n
        ri[i], ci[i], bi[i] = r, c, (r // br) * per_band + c // bc
        g[i] = grid[i]
    for i in range(N):
        if g[i]:
            bit = 1 << (g[i] - 1)
            if (rows[ri[i]] | cols[ci[i]] | boxes[bi[i]]) & bit:
                return 0, 0
            rows[ri[i]] |= bit
            cols[ci[i]] |= bit
            boxes[bi[i]] |= bit
    stack_cell = np.empty(N, np.int64)
    stack_rem = np.empty(N, np.int64)
    depth = 0
    nsol = 0
    guesses = 0
    while True:
        best, best_cnt, best_mask = -1, n + 1, 0
        for i in range(N):
            if g[i] == 0:
                m = full & ~(rows[ri[i]] | cols[ci[i]] | boxes[bi[i]])
                cnt = _popcount(m)
                if cnt < best_cnt:
                    best, best_cnt, best_mask = i, cnt, m
                    if cnt <= 1:
                        break
        if best >= 0 and best_cnt > 0:
            bit = _pick(best_mask, rng, randomize)
            if best_cnt > 1:
                guesses += 1
            stack_cell[depth] = best
            stack_rem[depth] = best_mask & ~bit
            depth += 1
            g[best] = _digit(bit)
            rows[ri[best]] |= bit
            cols[ci[best]] |= bit
            boxes[bi[best]] |= bit
            continue
        if best < 0:  # grid full: a solution
            nsol += 1
            if nsol == 1:
                for i in range(N):
                    solution[i] = g[i]
            if nsol >= limit:
                return nsol, guesses
        # backtrack to the deepest cell with an untried value
        placed = False
        while depth > 0:
            i = stack_cell[depth - 1]
            bit = 1 << (g[i] - 1)
            rows[ri[i]] &= ~bit
            cols[ci[i]] &= ~bit
            boxes[bi[i]] &= ~bit
            g[i] = 0
            rem = stack_rem[depth - 1]
            if rem:
                bit = _pick(rem, rng, randomize)
                stack_rem[depth - 1] = rem & ~bit
                guesses += 1
                g[i] = _digit(bit)
                rows[ri[i]] |= bit
                cols[ci[i]] |= bit
                boxes[bi[i]] |= bit
                placed = True
                break
            depth -= 1
        if not placed:
            return nsol, guesses


@njit(cache=True)
def count_core(grid, n, br, bc):
    """(number of solutions capped at 2, guesses, first solution) with the deterministic order."""
    sol = np.zeros(n * n, np.int64)
    rng = np.zeros(1, np.uint64)
    nsol, guesses = solve_core(grid, n, br, bc, 2, rng, False, sol)
    return nsol, guesses, sol


@parallel_njit
def _solve_batch(grids, n, br, bc):
    k = grids.shape[0]
    nsol = np.zeros(k, np.int64)
    guesses = np.zeros(k, np.int64)
    sols = np.zeros((k, n * n), np.int64)
    for j in prange(k):
        a, b, s = count_core(grids[j], n, br, bc)
        nsol[j], guesses[j] = a, b
        sols[j] = s
    return nsol, guesses, sols


@dataclass(frozen=True)
class Solved:
    """Result of solving a batch: solution counts (capped at 2), ratings (guesses) and solutions."""

    n_solutions: np.ndarray
    rating: np.ndarray
    solution: np.ndarray


def solve(puzzles: np.ndarray, size: int | None = None) -> Solved:
    """Solve puzzles of shape (B, n*n) or (n*n,), digits 1..n and 0 for blank, in parallel."""
    grids = np.atleast_2d(np.asarray(puzzles, dtype=np.int64))
    n = size or int(round(grids.shape[1] ** 0.5))
    if n * n != grids.shape[1]:
        raise ValueError(f"puzzle length {grids.shape[1]} is not a square")
    br, bc = box_shape(n)
    nsol, guesses, sols = _solve_batch(np.ascontiguousarray(grids), n, br, bc)
    return Solved(nsol, guesses, sols)


def rate(puzzles: np.ndarray) -> np.ndarray:
    """Ratings (guesses to solve and prove uniqueness) of a batch of puzzles."""
    return solve(puzzles).rating
