"""``python -m attractor.data.maze {generate,validate,leakage}``; see docs/data.md."""
from __future__ import annotations

import argparse
import sys

from attractor.data.cli import PuzzleCommands, main
from attractor.data.gridset import GridSet
from attractor.data.maze.canonical import canonical
from attractor.data.maze.format import load_csv, write_csv
from attractor.data.maze.generate import generate_split


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--side", type=int, default=30)
    p.add_argument("--min-path", type=int, default=None,
                   help="keep mazes whose shortest path is longer than this many moves (default 110 at 30x30)")


def _generate(a: argparse.Namespace) -> tuple[GridSet, GridSet]:
    return generate_split(a.train, a.test, a.side, a.seed, a.min_path)


COMMANDS = PuzzleCommands("maze", _args, _generate, write_csv, load_csv, canonical)

if __name__ == "__main__":
    sys.exit(main(COMMANDS))
