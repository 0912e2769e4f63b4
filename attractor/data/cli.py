"""The command line shared by ``python -m attractor.data.sudoku`` and ``python -m attractor.data.maze``.

Commands: ``generate`` (seeded train/test CSVs, and val.csv with ``--val``), ``validate`` (exit 1
naming file, line and problem) and ``leakage`` (exit 1 listing test or validation rows that are
symmetric variants of training rows, or test rows that are variants of validation rows).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from attractor.data.grid_csv import DataFormatError
from attractor.data.gridset import GridSet
from attractor.data.leakage import Key, find_leaks
from attractor.data.splits import SPLITS, Splits


@dataclass(frozen=True)
class PuzzleCommands:
    """What one puzzle plugs into the shared CLI."""

    name: str
    add_generate_args: Callable[[argparse.ArgumentParser], None]
    generate: Callable[[argparse.Namespace], Splits]
    write: Callable[[Path, GridSet], None]
    load: Callable[[Path], GridSet]
    canonical: Key
    invariant: Key | None = None


def _line(gs: GridSet, i: int) -> str:
    return str(int(gs.lines[i])) if len(gs.lines) else "?"


def _split_files(paths: list[Path]) -> list[Path]:
    """The paths given, a folder standing for the train/val/test CSVs in it."""
    files = []
    for path in paths:
        if not path.is_dir():
            files.append(path)
            continue
        found = [path / f"{s}.csv" for s in SPLITS if (path / f"{s}.csv").exists()]
        if not found:
            raise FileNotFoundError(f"{path}: a folder without train.csv, val.csv or test.csv")
        files.extend(found)
    return files


def _leaks(cmd: PuzzleCommands, load: Callable[[Path], GridSet], query: Path, refs: list[Path]) -> int:
    """Print each row of ``query`` that is a symmetric variant of a row of a file in ``refs``; their count."""
    rows = load(query)
    leaking: set[int] = set()
    for ref in refs:
        known = load(ref)
        for j, i in find_leaks(known.q, rows.q, cmd.canonical, cmd.invariant):
            leaking.add(j)
            print(f"{query}:{_line(rows, j)} is a symmetric variant of {ref}:{_line(known, i)}")
    print(f"{query}: {len(leaking)} of {len(rows)} puzzles leak into {', '.join(map(str, refs))}")
    return len(leaking)


def main(cmd: PuzzleCommands, argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m attractor.data.{cmd.name}")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write DIR/train.csv, DIR/test.csv and (--val) DIR/val.csv")
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--train", type=int, required=True, help="training puzzles")
    gen.add_argument("--test", type=int, required=True, help="test puzzles")
    gen.add_argument("--val", type=int, default=0,
                     help="validation puzzles from the training generator, none a variant of a train or test one")
    gen.add_argument("--seed", type=int, default=0)
    cmd.add_generate_args(gen)
    val = sub.add_parser("validate", help="check files (a folder: its train/val/test.csv); exit 1 on the first problem")
    val.add_argument("files", type=Path, nargs="+")
    leak = sub.add_parser("leakage", help="list test (and val) puzzles that are symmetric variants of training ones")
    leak.add_argument("--train", type=Path, required=True)
    leak.add_argument("--val", type=Path, default=None, help="also check val against train, and test against val")
    leak.add_argument("--test", type=Path, nargs="+", required=True)
    args = parser.parse_args(argv)

    try:
        if args.command == "generate":
            if args.val < 0:
                parser.error(f"--val must be >= 0, got {args.val}")
            t0 = time.perf_counter()
            splits = cmd.generate(args)
            written = [(s, getattr(splits, s)) for s in SPLITS if getattr(splits, s) is not None]
            for split, gs in written:
                cmd.write(args.out / f"{split}.csv", gs)
            print(f"wrote {', '.join(f'{len(gs)} {s}' for s, gs in written)} rows to {args.out} in "
                  f"{time.perf_counter() - t0:.1f} s; rating mean {np.mean(splits.train.rating):.0f}, "
                  f"median {np.median(splits.train.rating):.0f} (train)")
        elif args.command == "validate":
            for f in _split_files(args.files):
                gs = cmd.load(f)
                print(f"OK {f}: {len(gs)} puzzles")
        else:
            load = lru_cache(maxsize=None)(cmd.load)  # each file is read and checked once
            refs = [args.train] + ([args.val] if args.val else [])
            total = _leaks(cmd, load, args.val, [args.train]) if args.val else 0
            total += sum(_leaks(cmd, load, f, refs) for f in args.test)
            return 1 if total else 0
    except (DataFormatError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
