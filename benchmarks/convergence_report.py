"""Tables of the convergence study (``scripts/convergence_study.sh``) from its runs' JSON.

Per run (``outputs/convergence/<shape>-<recipe>-s<seed>``): the score at the best validation, the
solve health at the last validation of training (metrics.json) and on the whole test set from the
validation-chosen checkpoint (eval.json), the test score with the solver removed, recoveries and
skipped steps, CPU seconds per step. Per shape and recipe: means over the reported seeds (1-3;
seed 0 screens the recipes) with t-intervals.

    python -m benchmarks.convergence_report --json docs/results/convergence_cpu.json
"""
from __future__ import annotations

import csv
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/X.py`: put the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attractor.io import write_json, write_text  # noqa: E402
from attractor.stats import seed_interval  # noqa: E402
from benchmarks.common import parser  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.95  # the issue's bar: converged on at least 95% of validation and of test items


def best_validation(run_dir: Path, key: str) -> float | None:
    """The best validation figure of a run (its logged CSV): highest exact accuracy, lowest loss."""
    rows = [float(r[key]) for r in csv.DictReader(open(run_dir / "logs" / "metrics.csv")) if r.get(key)]
    return (min(rows) if key == "val/loss" else max(rows)) if rows else None


def run_entry(run_dir: Path) -> dict:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    ev_path = next(p for p in (run_dir / "eval" / "eval.json", run_dir / "eval.json") if p.exists())
    ev = json.loads(ev_path.read_text())
    lm = metrics["task"] == "lm"
    score_key, test_key = ("val/loss", "loss") if lm else ("val/exact_acc", "exact_acc")
    modes = {s["mode"]: s for s in ev["sweep"]}
    health = metrics.get("solve_health", {})
    return {
        "run": run_dir.name, "steps": metrics["steps"], "parameters": metrics["parameters"],
        "cpu_s_per_step": metrics["train_cpu_time_s"] / metrics["steps"], "skipped_steps": metrics["skipped_steps"],
        "recoveries": health.get("recoveries"), "events": health.get("events", []),
        "best_val": best_validation(run_dir, score_key), "val_solve": health.get("val"),
        "test": modes["solver"][test_key], "test_solve": modes["solver"]["solve"],
        "test_none": modes["none"][test_key] if "none" in modes else None, "checkpoint": Path(ev["checkpoint"]).name,
        "metric": "loss (nats/char)" if lm else "exact",
    }


def _interval(values: list[float]) -> list[float] | None:
    return list(seed_interval(values)) if len(values) > 1 else None


def summarise(runs: list[dict]) -> dict:
    """Per shape-recipe: seeds, means and t-intervals of the test score and converged fractions, over
    the reported seeds (1, 2, 3: seed 0 screened the recipes), or over seed 0 alone where the recipe
    was only screened (``screening_only``)."""
    groups = defaultdict(list)
    for r in runs:
        groups[r["run"].rsplit("-s", 1)[0]].append(r)
    table = {}
    for key, screened in groups.items():
        rs = [r for r in screened if not r["run"].endswith("-s0")] or screened
        test = [r["test"] for r in rs]
        val_conv = [r["val_solve"]["converged_frac"] for r in rs if r["val_solve"]]
        test_conv = [r["test_solve"]["converged_frac"] for r in rs if r["test_solve"]]
        table[key] = {"seeds": [r["run"].rsplit("-s", 1)[1] for r in rs], "metric": rs[0]["metric"],
                      "test_mean": statistics.mean(test), "test_ci95": _interval(test),
                      "val_converged_min": min(val_conv, default=None), "test_converged_min": min(test_conv, default=None),
                      "meets_target": bool(val_conv and test_conv and min(val_conv + test_conv) >= TARGET),
                      "cpu_s_per_step": statistics.mean(r["cpu_s_per_step"] for r in rs),
                      "recoveries": sum(r["recoveries"] or 0 for r in rs), "screening_only": rs is screened}
    return table


def _f(x, spec=".3f") -> str:
    return "–" if x is None else format(x, spec)


def render(runs: list[dict], table: dict) -> str:
    lines = ["| run | metric | best val | test | test, solver removed | val converged | val residual p90 | "
             "test converged | test residual p90 | mean iterations (test) | recoveries | skipped | CPU s/step |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in runs:
        v, t = r["val_solve"] or {}, r["test_solve"] or {}
        lines.append(f"| {r['run']} | {r['metric']} | {_f(r['best_val'])} | {_f(r['test'])} | {_f(r['test_none'])} | "
                     f"{_f(v.get('converged_frac'))} | {_f(v.get('residual_p90'), '.2e')} | {_f(t.get('converged_frac'))} | "
                     f"{_f(t.get('residual_p90'), '.2e')} | {_f(t.get('iterations_mean'), '.1f')} | {r['recoveries']} | "
                     f"{r['skipped_steps']} | {r['cpu_s_per_step']:.3f} |")
    lines += ["", "| shape-recipe | seeds | test mean [95% CI over seeds] | lowest val converged | lowest test converged "
                  "| >= 95% on every seed | CPU s/step | recoveries |", "| --- | --- | --- | ---: | ---: | --- | ---: | ---: |"]
    for key, t in table.items():
        ci = f" [{t['test_ci95'][0]:.3f}, {t['test_ci95'][1]:.3f}]" if t["test_ci95"] else ""
        seeds = ",".join(t["seeds"]) + (" (screening only)" if t["screening_only"] else "")
        lines.append(f"| {key} | {seeds} | {t['test_mean']:.3f}{ci} | {_f(t['val_converged_min'])} | "
                     f"{_f(t['test_converged_min'])} | {'yes' if t['meets_target'] else 'no'} | {t['cpu_s_per_step']:.3f} | "
                     f"{t['recoveries']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = parser(__doc__.splitlines()[0], "docs/results/convergence_cpu.json")
    p.add_argument("--runs", default=str(ROOT / "outputs" / "convergence"))
    p.add_argument("--tables", default="docs/results/convergence_cpu_tables.md")
    args = p.parse_args()
    dirs = sorted(d for d in Path(args.runs).iterdir() if (d / "metrics.json").exists() and "steps" in
                  json.loads((d / "metrics.json").read_text()))
    runs = [run_entry(d) for d in dirs if (d / "eval" / "eval.json").exists() or (d / "eval.json").exists()]
    table = summarise(runs)
    write_json(args.json, {"runs": runs, "table": table, "target": TARGET})
    write_text(args.tables, render(runs, table))
    print(render(runs, table))


if __name__ == "__main__":
    main()
