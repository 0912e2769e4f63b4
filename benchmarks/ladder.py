"""The depth-ladder study's summary (issue 14): figures per depth bucket, from each run's eval.json.

Used by ``benchmarks/reasoners.py --study ladder``: per run, accuracy per depth in every inference
mode (test-time iterations, solver removed) and after each segment count, and the Spearman
correlation of iterations with depth; per model, the mean over seeds per depth with the seeds'
t-interval and the FLOPs of one training step; the tables and the plots under docs/results/.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from attractor.evaluation.depth import depth_label, plot_accuracy_by_depth, plot_iterations_by_depth, plot_sweep_by_depth
from attractor.stats import seed_interval


def _buckets(rows: list[dict]) -> list[dict]:
    keys = ("depth", "n_items", "exact_acc", "exact_ci95", "mean_iterations", "cell_acc")
    return [{k: r[k] for k in keys if k in r} for r in rows]


def depth_entry(run_dir: Path) -> dict[str, Any]:
    """One run's per-depth figures: the default mode's buckets and correlation, every mode's buckets,
    and (models that carry state) accuracy per depth after 1..N segments at evaluation, and for a
    Q-head the segments used and accuracy when halting, per depth."""
    ev = json.loads((run_dir / "eval.json").read_text())
    default = next(s for s in ev["sweep"] if s["mode"] == "solver")
    entry = {"by_depth": _buckets(default["by_depth"]), "iterations_vs_depth": default["iterations_vs_depth"],
             "sweep_by_depth": [{"mode": s["mode"], "mean_iterations": s["mean_iterations"],
                                 "by_depth": _buckets(s["by_depth"])} for s in ev["sweep"]]}
    entry["adaptive_tolerance"] = []  # the solve stopped at looser tolerances (benchmarks/reasoners.py ADAPTIVE_TOLS)
    for path in sorted(run_dir.glob("tol*/eval.json")):
        loose = json.loads(path.read_text())
        s = loose["sweep"][0]
        entry["adaptive_tolerance"].append({**loose["solver_overrides"], "exact_acc": s["exact_acc"],
                                            "mean_iterations": s["mean_iterations"], "by_depth": _buckets(s["by_depth"]),
                                            "iterations_vs_depth": s["iterations_vs_depth"]})
    depth = run_dir / "depth" / "eval.json"
    if depth.exists():
        deeper = json.loads(depth.read_text())["sweep"][0]
        entry["segments_by_depth"] = [{"depth": r["depth"], "by_segment": r["by_segment"]} for r in deeper["by_depth"]]
        if deeper.get("halted"):  # ACT: segments used (mean_iterations) and accuracy when halting on the Q-head
            entry["halted_by_depth"] = _buckets(deeper["halted"]["by_depth"])
            entry["segments_vs_depth"] = deeper["halted"]["segments_vs_depth"]
    return entry


def model_depth_row(reached: list[dict]) -> list[dict]:
    """Mean exact accuracy per depth over the seeds reached, with the seeds' t-interval (one seed:
    that run's Wilson interval), and mean iterations."""
    rows = []
    for i, first in enumerate(reached[0]["depth"]["by_depth"]):
        accs = [r["depth"]["by_depth"][i]["exact_acc"] for r in reached]
        rows.append({"depth": first["depth"], "n_items": first["n_items"], "seeds": len(accs),
                     "exact_acc": statistics.mean(accs),
                     "exact_ci95": list(seed_interval(accs)) if len(accs) > 1 else first["exact_ci95"],
                     "mean_iterations": statistics.mean(r["depth"]["by_depth"][i]["mean_iterations"] for r in reached)})
        if "cell_acc" in first:
            rows[-1]["cell_acc"] = statistics.mean(r["depth"]["by_depth"][i]["cell_acc"] for r in reached)
    return rows


def plot_study(summary: dict, prefix: Path, trained_max: int) -> list[str]:
    """Accuracy vs depth per model, iterations vs depth for models whose compute varies (also the
    attractor at looser tolerances), ACT segments vs depth, and each model's (seed 0) accuracy vs
    test-time iterations per depth; returns the files written."""
    written = []
    curves = {m: t["by_depth"] for m, t in summary["table"].items() if "by_depth" in t}
    if curves:
        plot_accuracy_by_depth(curves, f"{prefix}_accuracy_by_depth.png", "exact accuracy by depth (mean over seeds)",
                               trained_max)
        written.append(f"{prefix.name}_accuracy_by_depth.png")
    adaptive = {name: r["depth"]["by_depth"] for name, r in summary["runs"].items()
                if r.get("depth", {}).get("iterations_vs_depth")}
    adaptive |= {f"{name} tol={t['tol']:g}": t["by_depth"] for name, r in summary["runs"].items()
                 for t in r.get("depth", {}).get("adaptive_tolerance", [])}
    if adaptive:
        plot_iterations_by_depth(adaptive, f"{prefix}_iterations_by_depth.png", "solver iterations by depth")
        written.append(f"{prefix.name}_iterations_by_depth.png")
    halting = {name: r["depth"]["halted_by_depth"] for name, r in summary["runs"].items()
               if "halted_by_depth" in r.get("depth", {})}
    if halting:
        plot_iterations_by_depth(halting, f"{prefix}_segments_by_depth.png", "ACT: segments used by depth (halting on "
                                 "the Q-head)", ylabel="mean segments")
        written.append(f"{prefix.name}_segments_by_depth.png")
    for name, r in summary["runs"].items():
        if name.endswith("-s0") and len(r.get("depth", {}).get("sweep_by_depth", [])) > 1:
            path = f"{prefix}_{name[:-3]}_iterations_by_depth_sweep.png"
            plot_sweep_by_depth(r["depth"]["sweep_by_depth"], path, f"{name}: accuracy vs test-time iterations")
            written.append(Path(path).name)
    return written


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def render_depth(summary: dict) -> str:
    """The per-depth tables as markdown, from the summary JSON alone."""
    table, runs = summary["table"], summary["runs"]
    if not any("by_depth" in t for t in table.values()):
        return ""
    first = next(t for t in table.values() if "by_depth" in t)["by_depth"]
    labels = [depth_label(r["depth"]) for r in first]
    head = "| " + " | ".join(labels) + " |"
    rule = "|" + " ---: |" * len(labels)
    lines = ["", f"Exact % by depth (rounds of singles; trained on depths up to {summary.get('trained_max_depth')}; "
                 f"items per bucket: {', '.join(str(r['n_items']) for r in first)}), mean over seeds [95% CI]:", "",
             "| model | FLOPs / step |" + head[1:], "| --- | ---: |" + rule[1:]]
    for model, t in table.items():
        if "by_depth" in t:
            flops = f"{t['flops_per_step'] / 1e9:.2f} G" if t.get("flops_per_step") else "–"
            cells = [f"{_pct(r['exact_acc'])} [{_pct(r['exact_ci95'][0])}, {_pct(r['exact_ci95'][1])}]" for r in t["by_depth"]]
            lines.append(f"| {model} | {flops} | " + " | ".join(cells) + " |")
    cell_rows = {m: t["by_depth"] for m, t in table.items() if "cell_acc" in t.get("by_depth", [{}])[0]}
    if cell_rows:
        lines += ["", "Cell % (blank cells right) by depth, mean over seeds:", "", "| model |" + head[1:], "| --- |" + rule[1:]]
        lines += [f"| {m} | " + " | ".join(_pct(r["cell_acc"]) for r in rows) + " |" for m, rows in cell_rows.items()]
    lines += ["", "Per run, exact % by depth in each inference mode (mean iterations in brackets); `none` is the "
                  "solver removed:", "", "| run | mode (iterations) |" + head[1:], "| --- | --- |" + rule[1:]]
    for name, r in runs.items():
        for s in r.get("depth", {}).get("sweep_by_depth", []):
            lines.append(f"| {name} | {s['mode']} ({s['mean_iterations']:.1f}) | "
                         + " | ".join(_pct(b["exact_acc"]) for b in s["by_depth"]) + " |")
    lines += ["", "Does adaptive compute track depth? Spearman correlation of iterations per item with its depth "
                  "(needs search ranked deepest), default mode:", "", "| run | rho | p | items |", "| --- | ---: | ---: | ---: |"]
    for name, r in runs.items():
        c = r.get("depth", {}).get("iterations_vs_depth")
        if c:
            lines.append(f"| {name} | {c['spearman_rho']:.3f} | {c['p_value']:.2g} | {c['n_items']} |")
    loose = {n: r["depth"]["adaptive_tolerance"] for n, r in runs.items() if r.get("depth", {}).get("adaptive_tolerance")}
    if loose:
        lines += ["", "The attractor's solve stopped at looser tolerances than trained: exact % (mean iterations) "
                      "per depth, and Spearman correlation of iterations with depth:", "",
                  "| run | tol |" + head[1:-1] + " | rho |", "| --- | ---: |" + rule[1:] + " ---: |"]
        for name, rows in loose.items():
            for t in rows:
                c = t["iterations_vs_depth"]
                lines.append(f"| {name} | {t['tol']:g} | " + " | ".join(f"{_pct(b['exact_acc'])} ({b['mean_iterations']:.1f})"
                                                                      for b in t["by_depth"])
                             + f" | {'–' if c is None else format(c['spearman_rho'], '.3f')} |")
    halting = {n: r["depth"] for n, r in runs.items() if "halted_by_depth" in r.get("depth", {})}
    if halting:
        lines += ["", "ACT halting on the Q-head, evaluated with up to the depth evaluation's segments: exact % "
                      "(mean segments used) per depth, and Spearman correlation of segments used with depth:", "",
                  "| run |" + head[1:-1] + " | rho |", "| --- |" + rule[1:] + " ---: |"]
        for name, d in halting.items():
            c = d["segments_vs_depth"]
            lines.append(f"| {name} | " + " | ".join(f"{_pct(b['exact_acc'])} ({b['mean_iterations']:.2f})"
                                                     for b in d["halted_by_depth"])
                         + f" | {'–' if c is None else format(c['spearman_rho'], '.3f')} |")
    segment_runs = {n: r["depth"]["segments_by_depth"] for n, r in runs.items() if "segments_by_depth" in r.get("depth", {})}
    if segment_runs:
        lines += ["", "Exact % by depth after 1..N segments at evaluation (models that carry state):", "",
                  "| run | segments |" + head[1:], "| --- | ---: |" + rule[1:]]
        for name, rows in segment_runs.items():
            for k in range(len(rows[0]["by_segment"])):
                lines.append(f"| {name} | {k + 1} | " + " | ".join(_pct(b["by_segment"][k]) for b in rows) + " |")
    return "\n".join(lines) + "\n"
