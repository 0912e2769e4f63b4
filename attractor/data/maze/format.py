"""Maze files in the public CSV format (``q``/``a`` over ``# SGo``), read with full validation.

Every row is checked: lengths, characters, one S and one G, no ``o`` in the puzzle, the answer
equal to the puzzle apart from ``o`` on open cells, and the marked path a shortest S-G path.
Problems raise :class:`DataFormatError` naming the file and the line.
"""
from __future__ import annotations

import os

import numpy as np

from attractor.data.grid_csv import DataFormatError, Row
from attractor.data.gridset import GridSet, codes_from_string, read_set, write_set
from attractor.data.maze.solver import NOT_SHORTEST, OK, PATH, PROBLEMS, check

ALPHABET = "# SGo"


def _side(length: int, path: str | os.PathLike, line: int) -> int:
    side = int(round(length ** 0.5))
    if side * side != length or side < 2:
        raise DataFormatError(path, line, f"q has length {length}, not a square grid")
    return side


def load_csv(path: str | os.PathLike, side: int | None = None) -> GridSet:
    """Load a Maze-Hard CSV, checking every row (see the module docstring)."""
    state: dict[str, int] = {}

    def parse(row: Row) -> tuple[np.ndarray, np.ndarray]:
        if "side" not in state:
            state["side"] = side or _side(len(row.q), path, row.line)
        n = state["side"]
        q = codes_from_string(row.q, ALPHABET, path, row.line, "q", n * n)
        a = codes_from_string(row.a, ALPHABET, path, row.line, "a", n * n)
        if (q == PATH).any():
            raise DataFormatError(path, row.line, "q contains a path cell 'o'")
        return q, a

    gs = read_set(path, parse)
    status, shortest = check(gs.q, gs.a)
    for i in np.flatnonzero(status != OK):
        problem = PROBLEMS[int(status[i])]
        if status[i] == NOT_SHORTEST:
            problem += f" (shortest is {shortest[i]} moves, marked {int((gs.a[i] == PATH).sum()) + 1})"
        raise DataFormatError(path, int(gs.lines[i]), problem)
    return gs


def write_csv(path: str | os.PathLike, gs: GridSet) -> None:
    """Write mazes in the public CSV format (temp file, then rename)."""
    write_set(path, gs, ALPHABET, ALPHABET)
