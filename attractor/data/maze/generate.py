"""Seeded Maze-Hard generation: random walls, start and goal at the ends of a long shortest path.

Random walls with start and goal drawn at random essentially never give a shortest path over
110 on 30x30 (0 in 4,000). So, per try: walls on a random 30-45% of cells, a BFS from a random
open cell to its farthest cell A, a second BFS from A to its farthest cell B (about the diameter
of that open region), and the maze is kept when the A-B shortest path exceeds ``min_path``
moves. S and G are A and B in random order; the reference path is one shortest path. About 1%
of tries pass at 30x30, and a try costs microseconds in numba.
"""
from __future__ import annotations

from functools import partial

import numpy as np
from numba import njit, prange

from attractor.data.gridset import GridSet
from attractor.data.leakage import SymmetryIndex
from attractor.data.maze.canonical import canonical
from attractor.data.maze.solver import GOAL, OPEN, PATH, START, WALL, bfs, neighbour
from attractor.data.parallel import parallel_njit
from attractor.data.rand import below, chain_seeds, uniform
from attractor.data.splits import Splits, generate_splits

DENSITY = (0.30, 0.45)


def default_min_path(side: int) -> int:
    """110 moves at 30x30, scaled with the area for other sides (e.g. 10 at 9x9)."""
    return int(round(110 * side * side / 900))


@njit(cache=True)
def _chain(side, seed, min_path, lo, hi, max_tries):
    N = side * side
    rng = np.array([seed], np.uint64)
    q = np.zeros(N, np.int64)
    dist = np.empty(N, np.int64)
    queue = np.empty(N, np.int64)
    for _ in range(max_tries):
        density = lo + (hi - lo) * uniform(rng)
        n_open = 0
        for i in range(N):
            if uniform(rng) < density:
                q[i] = WALL
            else:
                q[i] = OPEN
                queue[n_open] = i
                n_open += 1
        if n_open < 2:
            continue
        a = bfs(q, side, queue[below(rng, n_open)], dist, queue)
        b = bfs(q, side, a, dist, queue)
        length = dist[b]
        if length <= min_path:
            continue
        ans = q.copy()
        cur = b  # walk back from B to A along decreasing distance, random among equal choices
        while dist[cur] > 1:
            options = np.empty(4, np.int64)
            k = 0
            for d in range(4):
                j = neighbour(cur, d, side)
                if j >= 0 and dist[j] == dist[cur] - 1:
                    options[k] = j
                    k += 1
            cur = options[below(rng, k)]
            ans[cur] = PATH
        s, g = (a, b) if uniform(rng) < 0.5 else (b, a)
        q[s], q[g], ans[s], ans[g] = START, GOAL, START, GOAL
        return q, ans, length
    return q, q.copy(), -1


@parallel_njit
def _chains(seeds, side, min_path, lo, hi, max_tries):
    k = seeds.shape[0]
    qs = np.zeros((k, side * side), np.int64)
    ans = np.zeros((k, side * side), np.int64)
    lengths = np.zeros(k, np.int64)
    for j in prange(k):
        qs[j], ans[j], lengths[j] = _chain(side, seeds[j], min_path, lo, hi, max_tries)
    return qs, ans, lengths


def generate(count: int, side: int = 30, seed: int = 0, min_path: int | None = None,
             source: str = "generated", exclude: np.ndarray | None = None, max_tries: int = 100_000,
             first_chain: int = 0) -> GridSet:
    """``count`` distinct mazes with shortest path > ``min_path`` moves, none a dihedral variant of
    another or of a maze in ``exclude``; deterministic in ``seed``, from the seed's chains
    ``first_chain`` on. ``rating`` is the path length."""
    min_path = default_min_path(side) if min_path is None else int(min_path)
    index = SymmetryIndex(canonical)
    for codes in (exclude if exclude is not None else []):
        index.add(codes)
    rows: list[tuple[np.ndarray, np.ndarray, int]] = []
    start, batch = first_chain, max(32, count)
    while len(rows) < count:
        q, a, lengths = _chains(chain_seeds(seed, start, batch), side, min_path, DENSITY[0], DENSITY[1], max_tries)
        if start == first_chain and (lengths < 0).all():
            raise ValueError(f"no {side}x{side} maze with a shortest path over {min_path} in {max_tries} tries")
        start += batch
        for qi, ai, n in zip(q.astype(np.uint8), a.astype(np.uint8), lengths):
            if n < 0 or index.find(qi) is not None:
                continue
            index.add(qi)
            rows.append((qi, ai, int(n)))
            if len(rows) == count:
                break
        if start - first_chain > 20 * count + 1000:
            raise ValueError(f"could not find {count} distinct {side}x{side} mazes: only {len(rows)}")
        batch = max(32, int((count - len(rows)) * 1.2))
    return GridSet(np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows]),
                   np.array([r[2] for r in rows], np.int64), [source] * count)


def generate_split(n_train: int, n_test: int, side: int = 30, seed: int = 0, min_path: int | None = None,
                   n_val: int = 0) -> Splits:
    """Train, test and (``n_val`` > 0) validation sets; none shares a maze up to symmetry with
    another split (see :func:`attractor.data.splits.generate_splits`)."""
    return generate_splits(partial(generate, side=side, min_path=min_path), n_train, n_test, seed, n_val)
