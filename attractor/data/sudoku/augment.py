"""Sudoku symmetries: the validity-preserving transforms used for on-the-fly augmentation.

A transform relabels digits and permutes cells: bands, rows within a band, stacks, columns
within a stack, and (for square boxes only) the transpose. The same permutations enumerate the
group in :mod:`canonical`.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from attractor.data.sudoku.solver import box_shape


@dataclass(frozen=True)
class Transform:
    """``new[i] = digits[old[perm[i]]]`` on codes (0 blank, 1..n digits); ``digits[0] == 0``."""

    perm: np.ndarray
    digits: np.ndarray

    def apply(self, codes: np.ndarray) -> np.ndarray:
        """Transform codes of shape (..., n*n)."""
        return self.digits[np.asarray(codes)[..., self.perm]]

    def apply_tokens(self, tokens: np.ndarray) -> np.ndarray:
        """Transform model tokens (PAD 0, blank 1, digit d -> d+1)."""
        token_map = np.concatenate([[0], self.digits + 1])
        return token_map[np.asarray(tokens)[..., self.perm]]

    def inverse(self) -> "Transform":
        return Transform(np.argsort(self.perm), np.argsort(self.digits))


def line_maps(n: int, group: int) -> np.ndarray:
    """Every reordering of n lines that permutes groups of ``group`` lines and lines within each."""
    k = n // group
    maps = []
    for outer in itertools.permutations(range(k)):
        for inners in itertools.product(itertools.permutations(range(group)), repeat=k):
            maps.append([outer[b] * group + inners[b][i] for b in range(k) for i in range(group)])
    return np.array(maps, dtype=np.int64)


def cell_perm(n: int, rows: np.ndarray, cols: np.ndarray, transpose: bool) -> np.ndarray:
    r, c = np.meshgrid(rows, cols, indexing="ij")
    src = r * n + c
    return (src.T if transpose else src).ravel()


def random_transform(size: int, rng: np.random.Generator) -> Transform:
    """A uniformly random element of the Sudoku symmetry group for this size."""
    br, bc = box_shape(size)

    def lines(group: int) -> np.ndarray:
        outer = rng.permutation(size // group)
        return np.concatenate([outer[b] * group + rng.permutation(group) for b in range(size // group)])

    transpose = br == bc and bool(rng.integers(2))
    digits = np.concatenate([[0], rng.permutation(size) + 1])
    return Transform(cell_perm(size, lines(br), lines(bc), transpose), digits)
