"""A set of grid puzzles as integer codes, and its round trip through the public CSV.

Both puzzles store ``q`` and ``a`` as small integer codes (Sudoku: 0 blank, 1..n digits;
Maze: 0..4 for ``# SGo``), so the model tokens are simply ``code + 1`` with PAD 0.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from attractor.data.grid_csv import DataFormatError, Row, read_rows, write_rows


@dataclass
class GridSet:
    """Puzzles ``q`` and answers ``a`` (B, L) as uint8 codes, with ratings, sources and file lines."""

    q: np.ndarray
    a: np.ndarray
    rating: np.ndarray
    source: list[str]
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.q)

    @property
    def side(self) -> int:
        return int(round(self.q.shape[1] ** 0.5))

    def take(self, idx: np.ndarray | list[int]) -> "GridSet":
        idx = np.asarray(idx, dtype=np.int64)
        lines = self.lines[idx] if len(self.lines) else self.lines
        return GridSet(self.q[idx], self.a[idx], self.rating[idx], [self.source[i] for i in idx], lines)

    def tokens(self) -> tuple[np.ndarray, np.ndarray]:
        """Model inputs and labels: codes + 1, so 0 stays free for PAD."""
        return self.q.astype(np.int64) + 1, self.a.astype(np.int64) + 1


def codes_from_string(s: str, alphabet: str, path: str | os.PathLike, line: int, what: str,
                      length: int) -> np.ndarray:
    """Map a row string to codes (index in ``alphabet``), naming the first bad length or character."""
    if len(s) != length:
        raise DataFormatError(path, line, f"{what} has length {len(s)}, expected {length}")
    lookup = {ch: i for i, ch in enumerate(alphabet)}
    out = np.empty(length, np.uint8)
    side = int(round(length ** 0.5))
    for i, ch in enumerate(s):
        code = lookup.get(ch)
        if code is None:
            raise DataFormatError(path, line, f"{what} has bad character {ch!r} at row {i // side + 1}, "
                                              f"column {i % side + 1} (allowed: {alphabet!r})")
        out[i] = code
    return out


def string_from_codes(codes: np.ndarray, alphabet: str) -> str:
    return "".join(alphabet[int(c)] for c in codes)


def read_set(path: str | os.PathLike, parse: Callable[[Row], tuple[np.ndarray, np.ndarray]]) -> GridSet:
    """Read a public CSV; ``parse`` turns one row into (q codes, a codes) or raises DataFormatError."""
    qs, as_, ratings, sources, lines = [], [], [], [], []
    length = None
    for row in read_rows(path):
        q, a = parse(row)
        if length is not None and len(q) != length:
            raise DataFormatError(path, row.line, f"grid length {len(q)} differs from earlier rows ({length})")
        length = len(q)
        qs.append(q)
        as_.append(a)
        ratings.append(row.rating)
        sources.append(row.source)
        lines.append(row.line)
    if not qs:
        raise DataFormatError(path, None, "no rows after the header")
    return GridSet(np.stack(qs), np.stack(as_), np.array(ratings, np.int64), sources, np.array(lines, np.int64))


def write_set(path: str | os.PathLike, gs: GridSet, q_alphabet: str, a_alphabet: str) -> None:
    """Write a set in the public CSV format (atomically)."""
    write_rows(path, (Row(src, string_from_codes(q, q_alphabet), string_from_codes(a, a_alphabet), int(r))
                      for src, q, a, r in zip(gs.source, gs.q, gs.a, gs.rating)))
