"""A tiny explicit-state RNG (splitmix64) for numba kernels.

Each generator chain carries its own state, so results depend only on the seed and the chain
index, never on how numba spreads chains over threads.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True)
def next_u64(state: np.ndarray) -> np.uint64:
    """Advance a one-element uint64 state array and return 64 random bits."""
    state[0] += _GAMMA
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def below(state: np.ndarray, k: int) -> int:
    """A random integer in [0, k)."""
    return np.int64(next_u64(state) % np.uint64(k))


@njit(cache=True)
def uniform(state: np.ndarray) -> float:
    """A random float in [0, 1)."""
    return np.float64(next_u64(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def chain_seeds(seed: int, start: int, count: int) -> np.ndarray:
    """Seeds of chains ``start .. start+count-1`` for a user seed: chain i always gets the same stream."""
    with np.errstate(over="ignore"):
        base = _mix(np.array([int(seed) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
        idx = np.arange(start + 1, start + count + 1, dtype=np.uint64)
        return _mix(base + idx * _GAMMA)
