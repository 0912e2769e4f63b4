"""Canonical form of a maze under the dihedral group: the smallest of its 8 symmetric variants."""
from __future__ import annotations

import numpy as np

from attractor.data.maze.augment import dihedral_perms


def canonical(codes: np.ndarray) -> bytes:
    """Bytes equal for a maze and each of its rotations and reflections."""
    codes = np.asarray(codes, dtype=np.uint8).ravel()
    variants = codes[dihedral_perms(int(round(len(codes) ** 0.5)))]
    return min(v.tobytes() for v in variants)
