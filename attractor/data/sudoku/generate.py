"""Seeded generation of unique-solution Sudoku, with a hard mode.

Random minimal puzzles are easy (median ~24 guesses with our solver, against ~650 for the
magictour hard set), and only a few percent of them are hard. Hard mode therefore runs a local
search per puzzle: starting from a random minimal puzzle it moves one clue to another cell of
the same solution (or drops one), keeps the move when the puzzle stays unique and its rating
does not fall, and stops once the rating reaches ``min_rating``. Chains run in parallel under
numba, each with its own RNG stream, so the output depends only on the seed.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
from numba import njit, prange

from attractor.data.gridset import GridSet
from attractor.data.leakage import SymmetryIndex
from attractor.data.parallel import parallel_njit
from attractor.data.rand import below, chain_seeds, uniform
from attractor.data.splits import Splits, generate_splits
from attractor.data.sudoku.canonical import canonical, invariant
from attractor.data.sudoku.depth import propagation_depth
from attractor.data.sudoku.solver import box_shape, solve_core

# Default hard-mode target per size: chosen so a 9x9 set's median rating is near magictour's.
DEFAULT_MIN_RATING = {4: 0, 6: 0, 9: 600}


@njit(cache=True)
def _count(p, n, br, bc, scratch, rng):
    return solve_core(p, n, br, bc, 2, rng, False, scratch)


@njit(cache=True)
def _random_grid(n, br, bc, rng):
    sol = np.zeros(n * n, np.int64)
    solve_core(np.zeros(n * n, np.int64), n, br, bc, 1, rng, True, sol)
    return sol


@njit(cache=True)
def _chain(n, br, bc, seed, min_rating, blanks, max_steps):
    """One puzzle: a random full grid, clues removed while unique, then the hardening search."""
    N = n * n
    rng = np.array([seed], np.uint64)
    scratch = np.zeros(N, np.int64)
    sol = _random_grid(n, br, bc, rng)
    p = sol.copy()
    order = np.arange(N)
    for i in range(N - 1, 0, -1):
        j = below(rng, i + 1)
        order[i], order[j] = order[j], order[i]
    n_blank = 0
    for k in range(N):
        if blanks >= 0 and n_blank >= blanks:
            break
        i = order[k]
        v = p[i]
        p[i] = 0
        if _count(p, n, br, bc, scratch, rng)[0] == 1:
            n_blank += 1
        else:
            p[i] = v
    if blanks >= 0 and n_blank < blanks:
        return p, sol, -1  # cannot reach that many blanks with a unique solution: caller retries
    rating = _count(p, n, br, bc, scratch, rng)[1]
    if blanks >= 0:
        return p, sol, rating
    clues = np.empty(N, np.int64)
    holes = np.empty(N, np.int64)
    for _ in range(max_steps):
        if rating >= min_rating:
            break
        nc, nh = 0, 0
        for i in range(N):
            if p[i]:
                clues[nc] = i
                nc += 1
            else:
                holes[nh] = i
                nh += 1
        a = clues[below(rng, nc)]
        q = p.copy()
        q[a] = 0
        if uniform(rng) < 0.85:  # move a clue; otherwise just drop it
            b = holes[below(rng, nh)]
            q[b] = sol[b]
        nsol, r = _count(q, n, br, bc, scratch, rng)
        if nsol == 1 and r >= rating:
            p, rating = q, r
    return p, sol, rating


@parallel_njit
def _chains(seeds, n, br, bc, min_rating, blanks, max_steps):
    k = seeds.shape[0]
    puzzles = np.zeros((k, n * n), np.int64)
    sols = np.zeros((k, n * n), np.int64)
    ratings = np.zeros(k, np.int64)
    for j in prange(k):
        p, s, r = _chain(n, br, bc, seeds[j], min_rating, blanks[j], max_steps)
        puzzles[j], sols[j], ratings[j] = p, s, r
    return puzzles, sols, ratings


Blanks = int | tuple[int, int] | None


def chain_blanks(blanks: Blanks, start: int, count: int) -> np.ndarray:
    """Blanks asked of chains ``start..start+count-1``: a fixed number, -1 (none: hard mode), or for a
    ``(lo, hi)`` range ``lo + i mod (hi - lo + 1)`` for chain i, so every chain keeps its own count."""
    if blanks is None or np.ndim(blanks) == 0:
        return np.full(count, -1 if blanks is None else int(blanks), np.int64)
    lo, hi = (int(b) for b in blanks)
    return lo + np.arange(start, start + count, dtype=np.int64) % (hi - lo + 1)


def generate_raw(count: int, size: int = 9, seed: int = 0, min_rating: int | None = None,
                 blanks: Blanks = None, max_steps: int = 3000, start: int = 0,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run ``count`` chains (indices ``start..``): puzzles, solutions, ratings (-1 = chain failed).

    ``blanks`` asks for exactly that many blanks (unique solution, no hardening), or a ``(lo, hi)``
    range spread over the chains (:func:`chain_blanks`); otherwise puzzles are minimal and hardened
    until their rating reaches ``min_rating``. A chain that runs out of ``max_steps`` keeps its best
    puzzle, so filter on the rating afterwards.
    """
    br, bc = box_shape(size)
    target = DEFAULT_MIN_RATING.get(size, 0) if min_rating is None else int(min_rating)
    seeds = chain_seeds(seed, start, count)
    return _chains(seeds, size, br, bc, target, chain_blanks(blanks, start, count), int(max_steps))


def depth_quotas(count: int, depths: Sequence[int]) -> dict[int, int]:
    """``count`` puzzles spread evenly over ``depths`` (the first depths take the remainder)."""
    return {d: count // len(depths) + (i < count % len(depths)) for i, d in enumerate(depths)}


def generate(count: int, size: int = 9, seed: int = 0, min_rating: int | None = None,
             blanks: Blanks = None, source: str = "generated", exclude: np.ndarray | None = None,
             first_chain: int = 0, depths: Sequence[int] | None = None) -> GridSet:
    """``count`` distinct unique-solution puzzles, deterministic in ``seed``, from the seed's chains
    ``first_chain`` on (so one stream can feed two sets that never share a chain).

    None is a symmetric variant of a puzzle in ``exclude`` (how a test set is kept apart from
    its training set). With ``depths``, the puzzles are spread evenly over those propagation depths
    (:func:`attractor.data.sudoku.depth.propagation_depth`; -1 = needs search) and others are skipped.
    Tiny sizes have few puzzles up to symmetry, so asking too many raises.
    """
    target = 0 if blanks is not None else (DEFAULT_MIN_RATING.get(size, 0) if min_rating is None else min_rating)
    quota = depth_quotas(count, depths) if depths is not None else None
    index = SymmetryIndex(canonical, invariant)
    for codes in (exclude if exclude is not None else []):
        index.add(codes)
    seen: set[bytes] = set()
    rows: list[tuple[np.ndarray, np.ndarray, int]] = []
    start, batch = first_chain, max(64, count)
    while len(rows) < count:
        if start - first_chain > 50 * count + 1000:
            short = "" if quota is None else f"; still wanted per depth: { {d: k for d, k in quota.items() if k} }"
            raise ValueError(f"could not find {count} distinct {size}x{size} puzzles (blanks={blanks}, "
                             f"min_rating={target}, depths={depths}); only {len(rows)} after {start - first_chain} "
                             f"tries{short}: ask for fewer")
        p, s, r = generate_raw(batch, size, seed, target, blanks, start=start)
        depth = propagation_depth(p) if quota is not None else np.zeros(len(p), np.int64)
        start += batch
        for q, a, rating, d in zip(p.astype(np.uint8), s.astype(np.uint8), r, depth):
            key = q.tobytes()
            if rating < max(target, 0) or key in seen or (quota is not None and not quota.get(int(d))):
                continue
            if exclude is not None and index.find(q) is not None:
                continue
            seen.add(key)
            if quota is not None:
                quota[int(d)] -= 1
            rows.append((q, a, int(rating)))
            if len(rows) == count:
                break
        batch = max(64, int((count - len(rows)) * 1.3))
    return GridSet(np.stack([x[0] for x in rows]), np.stack([x[1] for x in rows]),
                   np.array([x[2] for x in rows], np.int64), [source] * count)


def generate_split(n_train: int, n_test: int, size: int = 9, seed: int = 0, min_rating: int | None = None,
                   blanks: Blanks = None, n_val: int = 0, train_depths: Sequence[int] | None = None,
                   test_depths: Sequence[int] | None = None) -> Splits:
    """Train, test and (``n_val`` > 0) validation sets; none shares a puzzle up to symmetry with
    another split (see :func:`attractor.data.splits.generate_splits`).

    The depth ladder: with ``train_depths`` and ``test_depths``, train and validation are spread
    evenly over the first and test over the second, e.g. train on depths 1-3 and test on 1-6 and
    the puzzles singles cannot solve (-1), so some test items are deeper than any training item."""
    bound = partial(generate, size=size, min_rating=min_rating, blanks=blanks)
    if train_depths is None:
        return generate_splits(bound, n_train, n_test, seed, n_val)
    return generate_splits(partial(bound, depths=tuple(train_depths)), n_train, n_test, seed, n_val,
                           generate_test=partial(bound, depths=tuple(test_depths)))
