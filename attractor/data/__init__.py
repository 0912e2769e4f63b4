"""Puzzle data: formats, generators, augmentation, leakage checks and metrics.

One package per puzzle (``sudoku``, ``maze``); the few pieces both share (the public CSV
format, the grid dataset and datamodule base, a seedable RNG for numba) live here.
"""
from attractor.data.grid_csv import DataFormatError

__all__ = ["DataFormatError"]
