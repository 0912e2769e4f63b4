"""The public puzzle CSV format (``source,q,a,rating``) shared by Sudoku-Extreme and Maze-Hard.

This module only knows rows of strings; each puzzle package checks what the strings mean.
Errors always name the file and the line, so a bad row in a 4M-row file can be found.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from attractor.io import atomic_path

HEADER = ("source", "q", "a", "rating")


class DataFormatError(ValueError):
    """A malformed data file: carries the file, the 1-based line and what is wrong."""

    def __init__(self, path: str | os.PathLike, line: int | None, problem: str):
        self.path, self.line, self.problem = str(path), line, problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Row:
    """One CSV row; ``line`` is its 1-based line number in the file (0 when not from a file)."""

    source: str
    q: str
    a: str
    rating: int
    line: int = 0


def read_rows(path: str | os.PathLike) -> Iterator[Row]:
    """Yield the rows of a public-format CSV, checking the header and the column count."""
    path = Path(path)
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise DataFormatError(path, 1, "empty file (expected header 'source,q,a,rating')")
        if tuple(h.strip() for h in header) != HEADER:
            raise DataFormatError(path, 1, f"bad header {','.join(header)!r}, expected 'source,q,a,rating'")
        for fields in reader:
            line = reader.line_num
            if not fields:
                raise DataFormatError(path, line, "empty line")
            if len(fields) != 4:
                raise DataFormatError(path, line, f"expected 4 columns (source,q,a,rating), got {len(fields)}")
            source, q, a, rating = fields
            try:
                value = int(rating)
            except ValueError:
                raise DataFormatError(path, line, f"rating {rating!r} is not an integer") from None
            yield Row(source, q, a, value, line)


def write_rows(path: str | os.PathLike, rows: Iterable[Row]) -> None:
    """Write rows with the public header; a temp file then rename, so readers never see half a file."""
    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER)
        for r in rows:
            writer.writerow((r.source, r.q, r.a, r.rating))
