"""Sudoku files: the public CSV and the plain puzzle lists, read with full validation.

Every loader checks lengths, characters, that the solution keeps the rules and the givens, and
that the puzzle has exactly one solution (with our solver); problems raise
:class:`DataFormatError` naming the file and the line. Nothing is skipped silently.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from attractor.data.grid_csv import DataFormatError, Row
from attractor.data.gridset import GridSet, codes_from_string, read_set, write_set
from attractor.data.sudoku.solver import BOXES, Solved, box_shape, solve

DIGITS = "123456789"


def alphabets(size: int) -> tuple[str, str]:
    """(q alphabet with '.' for blank, a alphabet) for an n x n Sudoku; code = index."""
    box_shape(size)
    if size > 9:
        raise ValueError("the text formats hold single digits, so sizes up to 9")
    return "." + DIGITS[:size], "." + DIGITS[:size]


def size_from_length(length: int, path: str | os.PathLike = "<input>", line: int | None = None) -> int:
    n = int(round(length ** 0.5))
    if n * n != length or n not in BOXES or n > 9:
        raise DataFormatError(path, line, f"grid length {length} is not 16, 36 or 81 (4x4, 6x6 or 9x9 Sudoku)")
    return n


def rule_problem(grid: np.ndarray) -> str | None:
    """Why a full grid (codes 1..n, shape (n*n,)) breaks a Sudoku rule, or None when valid."""
    n = int(round(len(grid) ** 0.5))
    br, bc = box_shape(n)
    g = np.asarray(grid).reshape(n, n)
    if (g < 1).any() or (g > n).any():
        r, c = np.argwhere((g < 1) | (g > n))[0]
        return f"cell at row {r + 1}, column {c + 1} is not a digit 1..{n}"
    units = [(f"row {i + 1}", g[i]) for i in range(n)] + [(f"column {i + 1}", g[:, i]) for i in range(n)]
    for b in range(n):
        r0, c0 = (b // (n // bc)) * br, (b % (n // bc)) * bc
        units.append((f"box {b + 1}", g[r0:r0 + br, c0:c0 + bc].ravel()))
    for name, unit in units:
        counts = np.bincount(unit, minlength=n + 1)
        if (counts[1:] != 1).any():
            d = int(np.argmax(counts[1:] > 1)) + 1
            return f"digit {d} appears {counts[d]} times in {name}"
    return None


def givens_problem(puzzle: np.ndarray, solution: np.ndarray) -> str | None:
    """Why a solution disagrees with the puzzle's givens, or None."""
    bad = np.flatnonzero((puzzle > 0) & (puzzle != solution))
    if len(bad) == 0:
        return None
    n = int(round(len(puzzle) ** 0.5))
    i = int(bad[0])
    return (f"solution disagrees with the given at row {i // n + 1}, column {i % n + 1} "
            f"(given {puzzle[i]}, solution {solution[i]})")


def _check_unique(gs: GridSet, path: str | os.PathLike) -> Solved:
    """Solve every puzzle; raise on the first with no or several solutions."""
    result = solve(gs.q)
    for i in np.flatnonzero(result.n_solutions != 1):
        what = "no solution" if result.n_solutions[i] == 0 else "several solutions"
        raise DataFormatError(path, int(gs.lines[i]) if len(gs.lines) else None, f"puzzle has {what}")
    return result


def load_csv(path: str | os.PathLike, size: int | None = None, check_unique: bool = True) -> GridSet:
    """Load a public-format Sudoku CSV (``source,q,a,rating``) with every check described above."""
    state: dict[str, int] = {}

    def parse(row: Row) -> tuple[np.ndarray, np.ndarray]:
        if "n" not in state:
            state["n"] = size or size_from_length(len(row.q), path, row.line)
        n = state["n"]
        qa, aa = alphabets(n)
        q = codes_from_string(row.q, qa, path, row.line, "q", n * n)
        a = codes_from_string(row.a, aa, path, row.line, "a", n * n)
        problem = rule_problem(a) or givens_problem(q, a)
        if problem:
            raise DataFormatError(path, row.line, problem)
        return q, a

    gs = read_set(path, parse)
    if check_unique:
        _check_unique(gs, path)
    return gs


def write_csv(path: str | os.PathLike, gs: GridSet) -> None:
    """Write a set in the public Sudoku CSV format (temp file, then rename)."""
    qa, aa = alphabets(gs.side)
    write_set(path, gs, qa, aa)


def load_puzzle_list(path: str | os.PathLike, size: int | None = None) -> GridSet:
    """Load a plain list (``#`` comments, one puzzle a line, ``.`` or ``0`` blank) and solve each.

    Raises on any puzzle without exactly one solution; ratings are our solver's guess counts.
    """
    qs, lines = [], []
    n = size
    with open(path) as f:
        for lineno, raw in enumerate(f, 1):
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            n = n or size_from_length(len(text), path, lineno)
            qa, _ = alphabets(n)
            qs.append(codes_from_string(text.replace("0", "."), qa, path, lineno, "puzzle", n * n))
            lines.append(lineno)
    if not qs:
        raise DataFormatError(path, None, "no puzzles in file")
    gs = GridSet(np.stack(qs), np.zeros((len(qs), n * n), np.uint8), np.zeros(len(qs), np.int64),
                 [Path(path).stem] * len(qs), np.array(lines, np.int64))
    result = _check_unique(gs, path)
    gs.a, gs.rating = result.solution.astype(np.uint8), result.rating
    for i in range(len(gs)):
        problem = givens_problem(gs.q[i], gs.a[i])
        if problem:  # cannot happen with a correct solver; kept as a guard
            raise DataFormatError(path, int(gs.lines[i]), problem)
    return gs


def load_any(path: str | os.PathLike, size: int | None = None) -> GridSet:
    """Load a CSV (first line starts with ``source,``) or a plain puzzle list."""
    with open(path) as f:
        first = f.readline()
    if first.startswith("source,"):
        return load_csv(path, size)
    return load_puzzle_list(path, size)
