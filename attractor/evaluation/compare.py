"""Compare training runs side by side: a markdown table and a plot from their run directories.

    python -m attractor.evaluation.compare outputs/run-a outputs/run-b ... --out docs/results/table.md

Each run directory holds ``metrics.json`` (written by training) and ``eval.json`` (by eval.py).
Runs are grouped by their name with the seed removed, so several seeds of one setting make one
row: mean ± standard deviation over seeds.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path
from typing import Any

from attractor.io import write_text
from attractor.plotting import save_figure


def load_run(run_dir: Path) -> dict[str, Any]:
    """metrics.json and eval.json of one run, with a clear error when either is missing."""
    run = {}
    for name in ("metrics", "eval"):
        path = run_dir / f"{name}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{run_dir}: no {name}.json (train with eval_after_fit=true, or run eval.py)")
        run[name] = json.loads(path.read_text())
    return run


def group_key(metrics: dict) -> str:
    return re.sub(r"-s\d+$", "", metrics.get("name", metrics["model"]))


def _mean_std(values: list[float | None], scale: float = 1.0, digits: int = 1) -> str:
    values = [v * scale for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _mode(report: dict, mode: str, key: str) -> float | None:
    return next((row[key] for row in report["sweep"] if row["mode"] == mode), None)


def summarise(runs: list[dict]) -> list[dict[str, Any]]:
    """One row per group of runs (seeds), with the figures the comparison table shows."""
    groups: dict[str, list[dict]] = {}
    for run in runs:
        groups.setdefault(group_key(run["metrics"]), []).append(run)
    rows = []
    for name, group in groups.items():
        metrics, evals = [r["metrics"] for r in group], [r["eval"] for r in group]
        rows.append({
            "run": name, "model": metrics[0]["model"], "seeds": len(group),
            "parameters": metrics[0]["parameters"],
            "train_time_s": _mean_std([m["train_time_s"] for m in metrics], digits=0),
            "peak_memory_mib": _mean_std([m["peak_memory_bytes"] for m in metrics], 2**-20, 0),
            "exact_pct": _mean_std([e["exact_acc"] for e in evals], 100),
            "cell_pct": _mean_std([e["cell_acc"] for e in evals], 100),
            "solver_removed_exact_pct": _mean_std([_mode(e, "none", "exact_acc") for e in evals], 100),
            "mean_iterations": _mean_std([e["mean_iterations"] for e in evals]),
            "n_test": evals[0]["n_items"],
            "exact_values": [e["exact_acc"] for e in evals],
        })
    return rows


COLUMNS = [("run", "run"), ("model", "model"), ("seeds", "seeds"), ("parameters", "params"),
           ("train_time_s", "train time (s)"), ("peak_memory_mib", "peak GPU mem (MiB)"),
           ("exact_pct", "exact %"), ("cell_pct", "cell %"), ("solver_removed_exact_pct", "exact %, solver removed"),
           ("mean_iterations", "mean iterations"), ("n_test", "test items")]


def markdown(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(f"{row[key]:,}" if isinstance(row[key], int) else str(row[key])
                                       for key, _ in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    with save_figure(path) as (fig, ax):
        for i, row in enumerate(rows):
            values = [100 * v for v in row["exact_values"]]
            ax.bar(i, statistics.mean(values), yerr=statistics.stdev(values) if len(values) > 1 else 0, capsize=4)
            ax.scatter([i] * len(values), values, color="black", s=8, zorder=3)
        ax.set_xticks(range(len(rows)), [row["run"] for row in rows], rotation=20, ha="right", fontsize=7)
        ax.set(ylabel="exact accuracy (%)", title="Comparison (mean ± std over seeds; dots: seeds)")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dirs", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True, help="markdown table to write")
    p.add_argument("--plot", type=Path, help="PNG (default: beside the table)")
    args = p.parse_args(argv)
    rows = summarise([load_run(d) for d in args.run_dirs])
    write_text(args.out, markdown(rows))
    plot(rows, args.plot or args.out.with_suffix(".png"))
    print(markdown(rows))


if __name__ == "__main__":
    main()
