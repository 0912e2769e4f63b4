"""Generation speed (1,000 hard Sudoku, 1,000 Maze-Hard mazes) and Sudoku hardness vs public sets.

    python benchmarks/data_generation.py [--count 1000] [--seed 0] [--json PATH]

Ratings of the public hard lists (read from ../shared/data/sudoku/ when present) use the same
solver as the generated puzzles. Times are warm: numba compilation is done before timing.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/X.py`: put the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import os
import platform
import time

import numpy as np

from attractor.data.maze.generate import generate as generate_mazes
from attractor.data.sudoku.format import load_puzzle_list
from attractor.data.sudoku.generate import DEFAULT_MIN_RATING, generate as generate_sudoku

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sudoku"


def _stats(x: np.ndarray) -> dict[str, float]:
    return {"n": int(len(x)), "mean": float(np.mean(x)), "median": float(np.median(x)),
            "p10": float(np.percentile(x, 10)), "p90": float(np.percentile(x, 90)),
            "min": float(np.min(x)), "max": float(np.max(x))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()

    generate_sudoku(2, seed=99, min_rating=50)  # compile / load numba caches
    generate_mazes(2, seed=99)
    t0 = time.perf_counter()
    sudoku = generate_sudoku(args.count, seed=args.seed)
    t_sudoku = time.perf_counter() - t0
    t0 = time.perf_counter()
    mazes = generate_mazes(args.count, seed=args.seed)
    t_maze = time.perf_counter() - t0

    ratings = {"generated hard (min_rating %d)" % DEFAULT_MIN_RATING[9]: _stats(sudoku.rating)}
    for name in ("magictour_top1465", "forum_hardest_1106"):
        path = SHARED / f"{name}.txt"
        if path.exists():
            ratings[name] = _stats(load_puzzle_list(path).rating)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.python_version()}",
        "count": args.count, "seed": args.seed,
        "sudoku_seconds": t_sudoku, "maze_seconds": t_maze,
        "sudoku_clues_mean": float((sudoku.q > 0).sum(1).mean()),
        "maze_path_moves": _stats(mazes.rating),
        "ratings": ratings,
    }
    print(f"{'task':<40}{'count':>8}{'seconds':>10}")
    print(f"{'9x9 hard Sudoku (unique, checked)':<40}{args.count:>8}{t_sudoku:>10.1f}")
    print(f"{'30x30 Maze-Hard (path > 110 moves)':<40}{args.count:>8}{t_maze:>10.1f}")
    print(f"\nmaze shortest path (moves): {result['maze_path_moves']}")
    print(f"\n{'Sudoku set (rating = guesses, same solver)':<44}{'n':>6}{'mean':>9}{'median':>9}{'p10':>8}{'p90':>9}")
    for name, s in ratings.items():
        print(f"{name:<44}{s['n']:>6}{s['mean']:>9.0f}{s['median']:>9.0f}{s['p10']:>8.0f}{s['p90']:>9.0f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(result, indent=1))
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
