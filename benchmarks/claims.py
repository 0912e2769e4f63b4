"""The evidence behind docs/results/claims.md (issue 14), computed from the two studies' summaries.

Reads docs/results/ladder_cpu.json (``benchmarks.reasoners --study ladder``) and
docs/results/lm_study_cpu.json (``benchmarks.lm_study``); copies each run's small JSON (metrics.json,
eval.json, the depth and looser-tolerance evaluations; no checkpoints; breadth is in the study JSON) under docs/results/per_run/ so the claims
can link them; writes docs/results/claims_evidence.json and claims_evidence.md. Every interval is
the Student-t interval over the 3 seeds of a seed-paired difference (``attractor.stats.seed_interval``).

    python -m benchmarks.claims
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attractor.io import write_json, write_text  # noqa: E402
from attractor.stats import seed_interval  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
SEEDS = (0, 1, 2)
IN_DISTRIBUTION, DEEPER = (1, 2, 3), (4, 5, 6, -1)  # depth buckets trained on / deeper than any training item
SMALL_JSON = ("metrics.json", "eval.json", "depth/eval.json", "tol*/eval.json")  # breadth: in the study JSON


def copy_run_json(study_out: Path, runs: list[str], dest: Path) -> None:
    """Each run's small JSON files under ``dest/<run>/`` (the links of claims.md)."""
    for run in runs:
        for src in (p for pattern in SMALL_JSON for p in (study_out / run).glob(pattern)):
            target = dest / run / src.relative_to(study_out / run)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)


def paired(values: dict[int, float], baseline: dict[int, float]) -> dict | None:
    """Seed-paired differences, their mean and t-interval (None with fewer than two shared seeds)."""
    seeds = [s for s in SEEDS if s in values and s in baseline]
    diffs = [values[s] - baseline[s] for s in seeds]
    if len(diffs) < 2:
        return None
    return {"seeds": seeds, "diffs": diffs, "mean": statistics.mean(diffs), "ci95": list(seed_interval(diffs))}


def bucket_mean(by_depth: list[dict], depths: tuple[int, ...]) -> float:
    """Exact accuracy over a group of depth buckets (equal-sized buckets: the pooled accuracy)."""
    return statistics.mean(b["exact_acc"] for b in by_depth if b["depth"] in depths)


def per_seed(runs: dict, model: str, value) -> dict[int, float]:
    return {s: value(runs[f"{model}-s{s}"]) for s in SEEDS if f"{model}-s{s}" in runs}


def mode_buckets(run: dict, mode: str) -> list[dict] | None:
    return next((s["by_depth"] for s in run["depth"]["sweep_by_depth"] if s["mode"] == mode), None)


def ladder_evidence(ladder: dict) -> dict:
    runs, att = ladder["runs"], ladder["selected_on_validation"].get("attractor")
    ev: dict = {"attractor": att, "vs": {}, "solver_removed": {}, "iterations_vs_depth": {}, "segments_vs_depth": {},
                "test_time_depth": {}}
    groups = {"all": lambda r, m="solver": r["exact_acc"] if m == "solver" else
              next(s["exact_acc"] for s in r["sweep"] if s["mode"] == m),
              "depths 1-3": lambda r, m="solver": bucket_mean(mode_buckets(r, m), IN_DISTRIBUTION),
              "deeper (4-6, search)": lambda r, m="solver": bucket_mean(mode_buckets(r, m), DEEPER)}
    for other in ("looped", "transformer", "trm", "trm_deq", "eqr"):
        ev["vs"][other] = {g: paired(per_seed(runs, att, f), per_seed(runs, other, f)) for g, f in groups.items()}
    ev["solver_removed"] = {g: paired(per_seed(runs, att, lambda r, f=f: f(r, "none")), per_seed(runs, att, f))
                            for g, f in groups.items()}
    ev["solver_removed_by_depth"] = {str(b["depth"]): [mode_buckets(runs[f"{att}-s{s}"], "none")[i]["exact_acc"] -
                                                       runs[f"{att}-s{s}"]["depth"]["by_depth"][i]["exact_acc"]
                                                       for s in SEEDS if f"{att}-s{s}" in runs]
                                     for i, b in enumerate(runs[f"{att}-s0"]["depth"]["by_depth"])}
    ev["iterations_vs_depth_loose_tol"] = {  # the attractor's solve stopped at looser tolerances
        f"tol={t['tol']:g}": per_seed(runs, att, lambda r, i=i: ((r["depth"]["adaptive_tolerance"][i]["iterations_vs_depth"]
                                                                   or {}).get("spearman_rho")))
        for i, t in enumerate(runs[f"{att}-s0"]["depth"].get("adaptive_tolerance", []))}
    for model in (att, "trm_deq", "trm", "eqr"):
        ev["iterations_vs_depth"][model] = per_seed(runs, model, lambda r: (r["depth"]["iterations_vs_depth"] or {}).get("spearman_rho"))
        if any("segments_vs_depth" in runs[n]["depth"] for n in runs if n.startswith(f"{model}-s")):
            ev["segments_vs_depth"][model] = per_seed(runs, model, lambda r: r["depth"]["segments_vs_depth"]["spearman_rho"])
    for model in ("looped", att, "trm", "trm_deq", "eqr"):  # accuracy on deeper items against test-time depth
        modes = [s["mode"] for s in runs[f"{model}-s0"]["depth"]["sweep_by_depth"]] if f"{model}-s0" in runs else []
        ev["test_time_depth"][model] = {m: {"deeper": statistics.mean(per_seed(runs, model, lambda r, m=m: bucket_mean(mode_buckets(r, m), DEEPER)).values()),
                                            "depths 1-3": statistics.mean(per_seed(runs, model, lambda r, m=m: bucket_mean(mode_buckets(r, m), IN_DISTRIBUTION)).values()),
                                            "iterations": statistics.mean(per_seed(runs, model, lambda r, m=m: next(
                                                s["mean_iterations"] for s in r["sweep"] if s["mode"] == m)).values())}
                                        for m in modes}
    ev["breadth"] = {model: breadth_table(runs, model) for model in ("eqr", att)}
    ev["flat"] = {name: r["val_change_last_20pct"] for name, r in runs.items()}
    return ev


def breadth_table(runs: dict, model: str, depth: str = "iters=8", ks: tuple[int, ...] = (1, 4, 16)) -> dict:
    """Mean over seeds of each selection method's exact accuracy at K particles, and the distinct answers."""
    names = [n for n in runs if n.rsplit("-s", 1)[0] == model and "breadth" in runs[n]]
    if not names:
        return {}
    rows = [r for r in runs[names[0]]["breadth"] if r["depth"] == depth and r["k"] == ks[0]]
    cell = lambda n, k, m: next(r for r in runs[n]["breadth"] if r["depth"] == depth and r["k"] == k and r["method"] == m)  # noqa: E731
    return {"depth": depth, "seeds": len(names),
            "distinct_answers": {k: statistics.mean(cell(n, k, rows[0]["method"])["distinct_answers"] for n in names) for k in ks},
            "accuracy": {r["method"]: {k: statistics.mean(cell(n, k, r["method"])["accuracy"] for n in names) for k in ks}
                         for r in rows}}


def lm_evidence(lm: dict) -> dict:
    runs, att = lm["runs"], lm["attractor_chosen_on_val"]
    loss = {m: per_seed(runs, m, lambda r: r["test_loss"]) for m in ("transformer", "looped", att)}
    none = per_seed(runs, att, lambda r: next(s["loss"] for s in r["sweep"] if s["mode"] == "none"))
    return {"attractor": att, "test_loss": {m: statistics.mean(v.values()) for m, v in loss.items() if v},
            "vs": {m: paired(loss[att], loss[m]) for m in ("transformer", "looped")},
            "solver_removed": paired(none, loss[att]),
            "time_to_transformer_final_val_loss": lm["time_to_transformer_final_val_loss"],
            "train_time_s": {m: statistics.mean(per_seed(runs, m, lambda r: r["train_time_s"]).values())
                             for m in ("transformer", "looped", att)},
            "flat": {name: r["val_change_last_20pct"] for name, r in runs.items()}}


def fmt(p: dict | None, scale: float = 100, digits: int = 1) -> str:
    if p is None:
        return "n/a"
    f = f"{{:+.{digits}f}}"
    return (f"{f.format(scale * p['mean'])} [{f.format(scale * p['ci95'][0])}, {f.format(scale * p['ci95'][1])}]"
            f" (seeds: {', '.join(f.format(scale * d) for d in p['diffs'])})")


def render(ev: dict) -> str:
    lad, lm = ev["ladder"], ev["lm"]
    att = lad["attractor"]
    out = ["# Evidence for the claims (generated by `python -m benchmarks.claims`)", "",
           f"From the ladder study's summary (commit {ev['ladder_commit']}) and the LM study's ({ev['lm_commit']}), "
           f"recomputed {ev['date']}; both ran on a 2-core CPU (AMD EPYC), no GPU, one thread per run, two runs at a "
           f"time; seeds 0, 1, 2.", "",
           "Seed-paired differences: mean [95% t-interval over seeds] (per seed). Ladder: exact accuracy, points; "
           "LM: test loss, nats per character (negative = attractor better).", "",
           f"## Ladder (6x6 Sudoku by depth; attractor recipe chosen on validation: `{att}`)", "",
           "| attractor minus | all (1,050) | depths 1-3 | deeper (4-6, search) |", "| --- | --- | --- | --- |"]
    for other, g in lad["vs"].items():
        out.append(f"| {other} | " + " | ".join(fmt(g[k]) for k in ("all", "depths 1-3", "deeper (4-6, search)")) + " |")
    s = lad["solver_removed"]
    out += ["", "| solver removed (none minus solver) | all | depths 1-3 | deeper |", "| --- | --- | --- | --- |",
            f"| {att} | " + " | ".join(fmt(s[k]) for k in ("all", "depths 1-3", "deeper (4-6, search)")) + " |", "",
            "Solver removed, per depth (points, per seed): " + "; ".join(
                f"{'search' if d == '-1' else d}: {', '.join(f'{100 * x:+.1f}' for x in v)}" for d, v in lad["solver_removed_by_depth"].items()),
            "", "| Spearman rho with depth | per seed |", "| --- | --- |"]
    for model, r in lad["iterations_vs_depth"].items():
        out.append(f"| iterations, {model} | " + ", ".join("n/a (fixed)" if v is None else f"{v:.3f}" for v in r.values()) + " |")
    for tol, r in lad["iterations_vs_depth_loose_tol"].items():
        out.append(f"| iterations, {att} at {tol} | " + ", ".join("n/a" if v is None else f"{v:.3f}" for v in r.values()) + " |")
    for model, r in lad["segments_vs_depth"].items():
        out.append(f"| ACT segments, {model} | " + ", ".join(f"{v:.3f}" for v in r.values()) + " |")
    out += ["", "Test-time depth: mean exact % over seeds (mean evaluations of the net or map):", "",
            "| model | mode | depths 1-3 | deeper (4-6, search) | evaluations |", "| --- | --- | ---: | ---: | ---: |"]
    for model, modes in lad["test_time_depth"].items():
        for m, v in modes.items():
            out.append(f"| {model} | {m} | {100 * v['depths 1-3']:.1f} | {100 * v['deeper']:.1f} | {v['iterations']:.1f} |")
    for model, b in lad["breadth"].items():
        if not b:
            continue
        ks = list(b["distinct_answers"])
        out += ["", f"Breadth, {model} ({b['depth']}, K random initial states, mean over {b['seeds']} seeds): exact % by "
                    "selection method; distinct answers per puzzle " + ", ".join(f"K={k}: {v:.2f}" for k, v in b["distinct_answers"].items()),
                "", "| method | " + " | ".join(f"K={k}" for k in ks) + " |", "| --- |" + " ---: |" * len(ks)]
        for method, acc in b["accuracy"].items():
            out.append(f"| {method} | " + " | ".join(f"{100 * acc[k]:.1f}" for k in ks) + " |")
    out += ["", f"## Language model (Tiny Shakespeare, char; attractor recipe chosen on validation: `{lm['attractor']}`)", "",
            "| comparison | test loss difference |", "| --- | --- |"]
    for other, p in lm["vs"].items():
        out.append(f"| attractor minus {other} | {fmt(p, 1, 4)} |")
    out.append(f"| solver removed (none minus solver) | {fmt(lm['solver_removed'], 1, 4)} |")
    out += ["", "Mean test loss: " + ", ".join(f"{m} {v:.4f}" for m, v in lm["test_loss"].items()),
            "", "Mean training seconds: " + ", ".join(f"{m} {v:.0f}" for m, v in lm["train_time_s"].items()),
            "", "To the same seed's transformer final validation loss (steps / wall s / CPU s): " + "; ".join(
                f"{m}: " + ", ".join(f"{s} never" if t["steps"] is None else f"{s} {t['steps']} / {t['wall_s']:.0f} / {t['cpu_s']:.0f}"
                                     for s, t in r.items())
                for m, r in lm["time_to_transformer_final_val_loss"].items())]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the study summaries and the evidence")
    parser.add_argument("--outputs", type=Path, default=ROOT / "outputs", help="folder of the studies' runs")
    args = parser.parse_args()
    results = args.results
    ladder = json.loads((results / "ladder_cpu.json").read_text())
    lm = json.loads((results / "lm_study_cpu.json").read_text())
    copy_run_json(args.outputs / "ladder_cpu", list(ladder["runs"]), results / "per_run" / "ladder")
    copy_run_json(args.outputs / "lm_study_cpu", list(lm["runs"]), results / "per_run" / "lm")
    evidence = {"ladder": ladder_evidence(ladder), "lm": lm_evidence(lm), "ladder_commit": ladder["commit"],
                "lm_commit": lm["commit"], "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    write_json(results / "claims_evidence.json", evidence)
    write_text(results / "claims_evidence.md", render(evidence))
    print(render(evidence))


if __name__ == "__main__":
    main()
