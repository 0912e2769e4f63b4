"""The 8 symmetries of the square, as cell permutations, for maze augmentation and canonical forms."""
from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=None)
def dihedral_perms(side: int) -> np.ndarray:
    """(8, side*side): ``new = old[..., perm]`` for the 4 rotations, each with and without a flip."""
    idx = np.arange(side * side).reshape(side, side)
    perms = []
    for flip in (False, True):
        base = idx.T if flip else idx
        for k in range(4):
            perms.append(np.rot90(base, k).ravel())
    return np.stack(perms)


def augment_tokens(inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Apply one of the 8 symmetries, drawn uniformly, to a maze and its answer."""
    perm = dihedral_perms(int(round(len(inputs) ** 0.5)))[rng.integers(8)]
    return inputs[perm], labels[perm]
