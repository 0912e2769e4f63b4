"""The command line shared by ``python -m attractor.data.sudoku`` and ``python -m attractor.data.maze``.

Commands: ``generate`` (seeded train/test CSVs), ``validate`` (exit 1 naming file, line and
problem) and ``leakage`` (exit 1 listing test rows that are symmetric variants of training rows).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from attractor.data.grid_csv import DataFormatError
from attractor.data.gridset import GridSet
from attractor.data.leakage import Key, find_leaks


@dataclass(frozen=True)
class PuzzleCommands:
    """What one puzzle plugs into the shared CLI."""

    name: str
    add_generate_args: Callable[[argparse.ArgumentParser], None]
    generate: Callable[[argparse.Namespace], tuple[GridSet, GridSet]]
    write: Callable[[Path, GridSet], None]
    load: Callable[[Path], GridSet]
    canonical: Key
    invariant: Key | None = None


def _line(gs: GridSet, i: int) -> str:
    return str(int(gs.lines[i])) if len(gs.lines) else "?"


def main(cmd: PuzzleCommands, argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m attractor.data.{cmd.name}")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write DIR/train.csv and DIR/test.csv")
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--train", type=int, required=True, help="training puzzles")
    gen.add_argument("--test", type=int, required=True, help="test puzzles")
    gen.add_argument("--seed", type=int, default=0)
    cmd.add_generate_args(gen)
    val = sub.add_parser("validate", help="check files; exit 1 on the first problem")
    val.add_argument("files", type=Path, nargs="+")
    leak = sub.add_parser("leakage", help="list test puzzles that are symmetric variants of training ones")
    leak.add_argument("--train", type=Path, required=True)
    leak.add_argument("--test", type=Path, nargs="+", required=True)
    args = parser.parse_args(argv)

    try:
        if args.command == "generate":
            t0 = time.perf_counter()
            train, test = cmd.generate(args)
            cmd.write(args.out / "train.csv", train)
            cmd.write(args.out / "test.csv", test)
            print(f"wrote {len(train)} train and {len(test)} test rows to {args.out} in "
                  f"{time.perf_counter() - t0:.1f} s; rating mean {np.mean(train.rating):.0f}, "
                  f"median {np.median(train.rating):.0f} (train)")
        elif args.command == "validate":
            for f in args.files:
                gs = cmd.load(f)
                print(f"OK {f}: {len(gs)} puzzles")
        else:
            train = cmd.load(args.train)
            total = 0
            for f in args.test:
                test = cmd.load(f)
                leaks = find_leaks(train.q, test.q, cmd.canonical, cmd.invariant)
                total += len(leaks)
                for j, i in leaks:
                    print(f"{f}:{_line(test, j)} is a symmetric variant of {args.train}:{_line(train, i)}")
                print(f"{f}: {len(leaks)} of {len(test)} test puzzles leak into {args.train}")
            return 1 if total else 0
    except (DataFormatError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
