"""``python -m attractor.data.sudoku {generate,validate,leakage}``; see docs/data.md."""
from __future__ import annotations

import argparse
import sys

from attractor.data.cli import PuzzleCommands, main
from attractor.data.splits import Splits
from attractor.data.sudoku.canonical import canonical, invariant
from attractor.data.sudoku.format import load_any, write_csv
from attractor.data.sudoku.generate import generate_split


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=int, default=9, choices=(4, 6, 9))
    p.add_argument("--min-rating", type=int, default=None,
                   help="hard mode: keep puzzles rated at least this (default 600 for 9x9; 0 = random minimal)")
    p.add_argument("--blanks", type=int, default=None, help="exactly this many blanks instead of hard mode")


def _generate(a: argparse.Namespace) -> Splits:
    return generate_split(a.train, a.test, a.size, a.seed, a.min_rating, a.blanks, a.val)


COMMANDS = PuzzleCommands("sudoku", _args, _generate, write_csv, load_any, canonical, invariant)

if __name__ == "__main__":
    sys.exit(main(COMMANDS))
