"""Parameter count of every experiment preset's model, against the reference counts where one exists.

    python -m benchmarks.params --json docs/results/params.json
    python benchmarks/params.py

Prints ``{preset: count}`` as JSON (and writes it to ``--json`` when given). The references' counts,
and how they were obtained, are in :data:`REFERENCE_COUNTS` and docs/models.md.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attractor.compose import compose  # noqa: E402
from attractor.io import write_json  # noqa: E402
from attractor.models import build_model  # noqa: E402
from attractor.tasks.config import validate_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Reference parameter counts. TRM-DEQ: as logged by jacobfa/Attractor ("TRM-DEQ params: 27.275M").
# TRM (attention) and its token-MLP variant (EqR's Sudoku net), computed from TRM's architecture:
# 2 blocks of 4 x 512^2 (attention) or 3 x 82 x 256 (token MLP over 81 cells + 1 identifier
# position) plus 3 x 512 x 1536 (SwiGLU), weightless norms, embedding and untied head of vocab 11
# (Sudoku) / 6 (Maze) x 512, Q-head 512 x 2 + 2; the sparse identifier embedding is a buffer. The
# papers round these to "7M" and "5M".
REFERENCE_COUNTS = {
    "sudoku_extreme_trm": 6_828_034, "sudoku_extreme_eqr": 4_856_834, "sudoku_extreme_trm_deq": 27_275_000,
    "maze_hard_trm": 6_822_914, "maze_hard_trm_deq": 27_275_000,
}


def preset_counts() -> dict[str, int]:
    """Every configs/experiment preset's model, built as train.py would build it, counted."""
    counts = {}
    for path in sorted((ROOT / "configs" / "experiment").glob("*.yaml")):
        run = validate_run(compose([f"experiment={path.stem}"]))
        counts[path.stem] = sum(p.numel() for p in build_model(run.model).parameters())
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", default=None, help="also write {preset: count} here")
    args = p.parse_args()
    counts = preset_counts()
    if args.json:
        write_json(args.json, counts)
    print(json.dumps(counts, indent=1))
    for preset, ref in REFERENCE_COUNTS.items():
        print(f"# {preset}: {counts[preset]:,} vs reference {ref:,} ({100 * (counts[preset] / ref - 1):+.2f}%)",
              file=sys.stderr)


if __name__ == "__main__":
    main()
