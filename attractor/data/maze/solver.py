"""Maze shortest paths and answer checking (numba).

Cells are codes 0..4 for ``# SGo``. Path length counts moves from S to G (the number of ``o``
cells plus one). An answer is correct when it keeps every wall, S and G, and its ``o`` cells
form one simple path from S to G whose length is the shortest possible; any shortest path
counts, not only the reference one.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from attractor.data.parallel import parallel_njit

WALL, OPEN, START, GOAL, PATH = 0, 1, 2, 3, 4

OK, NO_PATH, CHANGED_CELL, BROKEN_PATH, NOT_SHORTEST, BAD_ENDS = 0, 1, 2, 3, 4, 5
PROBLEMS = {
    NO_PATH: "maze has no path from S to G",
    CHANGED_CELL: "answer changes a wall, S or G, or marks a path on a wall",
    BROKEN_PATH: "marked path does not lead from S to G as one simple path",
    NOT_SHORTEST: "marked path is not a shortest path",
    BAD_ENDS: "maze needs exactly one S and one G",
}


@njit(cache=True)
def neighbour(i, k, side):
    """Cell next to ``i`` in direction k (up, down, left, right), or -1 off the grid."""
    r, c = i // side, i % side
    if k == 0:
        return i - side if r > 0 else -1
    if k == 1:
        return i + side if r < side - 1 else -1
    if k == 2:
        return i - 1 if c > 0 else -1
    return i + 1 if c < side - 1 else -1


@njit(cache=True)
def bfs(q, side, src, dist, queue):
    """Fill ``dist`` (-1 unreachable) with move counts from ``src`` over non-wall cells; return the farthest cell."""
    dist[:] = -1
    dist[src] = 0
    head, tail = 0, 1
    queue[0] = src
    far = src
    while head < tail:
        i = queue[head]
        head += 1
        far = i
        for k in range(4):
            j = neighbour(i, k, side)
            if j >= 0 and q[j] != WALL and dist[j] < 0:
                dist[j] = dist[i] + 1
                queue[tail] = j
                tail += 1
    return far


@njit(cache=True)
def _ends(q):
    s, g, ns, ng = -1, -1, 0, 0
    for i in range(q.shape[0]):
        if q[i] == START:
            s, ns = i, ns + 1
        elif q[i] == GOAL:
            g, ng = i, ng + 1
    if ns != 1 or ng != 1:
        return -1, -1
    return s, g


@njit(cache=True)
def check_one(q, a, side):
    """(status, shortest moves) for puzzle ``q`` and answer ``a`` (codes; anything > 4 is invalid)."""
    N = side * side
    s, g = _ends(q)
    if s < 0:
        return BAD_ENDS, -1
    dist = np.empty(N, np.int64)
    queue = np.empty(N, np.int64)
    bfs(q, side, s, dist, queue)
    shortest = dist[g]
    if shortest < 0:
        return NO_PATH, -1
    n_path = 0
    for i in range(N):
        if a[i] == PATH:
            if q[i] != OPEN:
                return CHANGED_CELL, shortest
            n_path += 1
        elif a[i] != q[i]:
            return CHANGED_CELL, shortest
    # walk from S along marked cells; each step must have exactly one unvisited marked neighbour
    prev, cur, steps = -1, s, 0
    while True:
        nxt, count, reached_goal = -1, 0, False
        for k in range(4):
            j = neighbour(cur, k, side)
            if j < 0 or j == prev:
                continue
            if a[j] == PATH:
                nxt, count = j, count + 1
            elif j == g and (cur != s or n_path == 0):
                reached_goal = True
        if reached_goal and count == 0:
            steps += 1
            break
        if count != 1 or reached_goal or steps > n_path:
            return BROKEN_PATH, shortest
        prev, cur, steps = cur, nxt, steps + 1
    if steps != n_path + 1:
        return BROKEN_PATH, shortest
    if steps != shortest:
        return NOT_SHORTEST, shortest
    return OK, shortest


@parallel_njit
def check_batch(q, a, side):
    """``check_one`` over a batch, in parallel: (status (B,), shortest (B,))."""
    b = q.shape[0]
    status = np.zeros(b, np.int64)
    shortest = np.zeros(b, np.int64)
    for k in prange(b):
        status[k], shortest[k] = check_one(q[k], a[k], side)
    return status, shortest


def check(q: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check answers for a batch of mazes given as codes (B, side*side)."""
    q = np.ascontiguousarray(np.atleast_2d(q), dtype=np.int64)
    a = np.ascontiguousarray(np.atleast_2d(a), dtype=np.int64)
    side = int(round(q.shape[1] ** 0.5))
    return check_batch(q, a, side)


def shortest_path_length(q: np.ndarray) -> np.ndarray:
    """Moves on a shortest S-G path of each maze (codes, (B, side*side) or (side*side,)); -1 when
    there is none or S/G are malformed. A maze's depth: the BFS wavefront needs that many steps."""
    q = np.ascontiguousarray(np.atleast_2d(q), dtype=np.int64)
    return check_batch(q, q, int(round(q.shape[1] ** 0.5)))[1]  # the checker measures it before judging
