"""``python -m attractor.data.maze {generate,validate,leakage}``; see docs/data.md."""
from __future__ import annotations

import argparse
import sys

from attractor.data.cli import PuzzleCommands, main
from attractor.data.maze.canonical import canonical
from attractor.data.maze.format import load_csv, write_csv
from attractor.data.maze.generate import generate_split
from attractor.data.splits import Splits


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--side", type=int, default=30)
    p.add_argument("--min-path", type=int, default=None,
                   help="keep mazes whose shortest path is longer than this many moves (default 110 at 30x30)")


def _generate(a: argparse.Namespace) -> Splits:
    return generate_split(a.train, a.test, a.side, a.seed, a.min_path, a.val)


COMMANDS = PuzzleCommands("maze", _args, _generate, write_csv, load_csv, canonical)

if __name__ == "__main__":
    sys.exit(main(COMMANDS))
