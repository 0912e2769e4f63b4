"""The language-model side of the depth-ladder study (issue 14): transformer, looped and attractor on
Tiny Shakespeare (char) at equal parameters and equal tokens, trained for thousands of steps, 3 seeds.

Which attractor recipe runs is chosen on validation: both candidates (ours, ``experiment=lm_shakespeare``,
and the reference code's, ``experiment=lm_ref`` at the same width) train seed 0, and the one with the
lower best validation loss runs the other seeds. Each run is scored on the whole test split from its
validation-chosen checkpoint. Reported: test loss with the seeds' t-intervals, seed-paired differences,
whether each validation curve flattened (change over the last 20% of steps), and the training time
each model needs to reach the transformer's final validation loss (the paper's "reduced training cost").

    OMP_NUM_THREADS=1 python -m benchmarks.lm_study --jobs 2          # resumes: finished runs are kept
    python -m benchmarks.lm_study --summarise-only

Runs go to outputs/lm_study_cpu/<model>-s<seed>/; the summary to docs/results/lm_study_cpu.json, the
tables to docs/results/lm_study_cpu_tables.md and the curves to docs/results/lm_study_cpu_val_loss.png.
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attractor.io import write_json, write_text  # noqa: E402
from attractor.stats import seed_interval  # noqa: E402
from benchmarks.reasoners import flatness, in_parallel, python  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "outputs" / "lm_study_cpu"
RESULTS = ROOT / "docs" / "results" / "lm_study_cpu"
SEEDS = (0, 1, 2)
MACHINE = "2-core CPU (AMD EPYC), no GPU, one thread per run, two runs at a time"
VAL_WINDOWS = 256  # the first 256 of the val split's 872 windows at every validation (32,768 tokens)
MODELS = {  # name -> overrides; every model ~0.45M parameters (4 blocks of width 96)
    "transformer": ["experiment=lm_shakespeare", "model=transformer"],
    "looped": ["experiment=lm_shakespeare", "model=looped"],
    "attractor": ["experiment=lm_shakespeare", "model=attractor"],
    "attractor_ref": ["experiment=lm_ref", "model.dim=96", "model.n_heads=4"],
}
CANDIDATES = ("attractor", "attractor_ref")  # screened on seed 0's validation loss
EVAL_MODES = {"transformer": "[solver]", "looped": "[solver]", "attractor": "[none,solver]",
              "attractor_ref": "[none,solver]"}


def overrides(model: str, seed: int, steps: int, out: Path = OUT) -> list[str]:
    """One run's train.py overrides: 20 validations, one checkpoint kept at the best validation score."""
    return [*MODELS[model], f"train.max_steps={steps}", f"train.val_every_steps={steps // 20}",
            f"train.checkpoint_every_steps={steps}", f"train.val_max_items={VAL_WINDOWS}",
            f"seed={seed}", f"name={model}-s{seed}", f"hydra.run.dir={out / f'{model}-s{seed}'}", "ckpt_path=null"]


def run_one(model: str, seed: int, steps: int, out: Path = OUT) -> None:
    """Train (a run cut short is started again: the harness refuses to overwrite checkpoints), then
    score the validation-chosen checkpoint on the whole test split."""
    run_dir = out / f"{model}-s{seed}"
    if not (run_dir / "metrics.json").exists():
        if run_dir.exists():
            print(f"removing the unfinished run {run_dir}", flush=True)
            shutil.rmtree(run_dir)
        python(["train.py", *overrides(model, seed, steps, out)], out / f"{model}-s{seed}.train.log")
    if not (run_dir / "eval.json").exists():
        python(["eval.py", f"ckpt={run_dir / 'checkpoints' / 'best.ckpt'}", f"modes={EVAL_MODES[model]}",
                f"out_dir={run_dir}"], out / f"{model}-s{seed}.eval.log")


def val_curve(run_dir: Path) -> list[dict]:
    """Validation loss at each validation, with the training time (steps only) spent to reach it."""
    path = run_dir / "logs" / "metrics.csv"
    if not path.exists():
        return []
    rows = list(csv.DictReader(open(path)))
    times = [(int(r["step"]), float(r["perf/train_time_s"])) for r in rows if r.get("perf/train_time_s")]
    curve = []
    for r in rows:
        if r.get("val/loss"):
            step = int(r["step"])
            before = [t for s, t in times if s <= step]
            curve.append({"step": step, "val_loss": float(r["val/loss"]), "train_time_s": before[-1] if before else 0.0})
    return curve


def time_to_reach(curve: list[dict], target: float, key: str = "train_time_s") -> float | None:
    """Training seconds (or steps, ``key="step"``) until the validation loss first reaches ``target``
    (None: never)."""
    return next((c[key] + (key == "step") for c in curve if c["val_loss"] <= target), None)


def run_entry(run_dir: Path) -> dict:
    ev = json.loads((run_dir / "eval.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    curve = val_curve(run_dir)
    return {"parameters": ev["parameters"], "steps": metrics["steps"], "train_time_s": metrics["train_time_s"],
            "train_cpu_time_s": metrics.get("train_cpu_time_s"), "checkpoint": ev["checkpoint"],
            "cpu_s_per_step": metrics["train_cpu_time_s"] / metrics["steps"],
            "test_loss": ev["loss"], "test_ppl": ev["ppl"], "test_bpb": ev["bpb"], "n_test_tokens": ev["n_tokens"],
            "mean_iterations": ev["mean_iterations"],
            "sweep": [{k: s[k] for k in ("mode", "loss", "ppl", "mean_iterations")} for s in ev["sweep"]],
            "val_curve": curve, "best_val_loss": min((c["val_loss"] for c in curve), default=None),
            "final_val_loss": curve[-1]["val_loss"] if curve else None,
            "val_change_last_20pct": flatness(curve, metrics["steps"], "val_loss")}


def interval(values: list[float]) -> list[float] | None:
    return list(seed_interval(values)) if len(values) > 1 else None


def summarise(chosen: str | None, out: Path = OUT) -> dict:
    runs = {d.name: run_entry(d) for d in sorted(out.glob("*-s[0-9]")) if (d / "eval.json").exists()}
    models = ["transformer", "looped", *([chosen] if chosen else [])]
    table, paired, reach = {}, {}, {}
    for m in models:
        reached = [runs[f"{m}-s{s}"] for s in SEEDS if f"{m}-s{s}" in runs]
        if not reached:
            continue
        losses = [r["test_loss"] for r in reached]
        table[m] = {"seeds": len(reached), "parameters": reached[0]["parameters"], "mean_test_loss": statistics.mean(losses),
                    "test_loss_ci95": interval(losses), "mean_test_ppl": statistics.mean(r["test_ppl"] for r in reached),
                    "mean_best_val_loss": statistics.mean(r["best_val_loss"] for r in reached),
                    "mean_train_time_s": statistics.mean(r["train_time_s"] for r in reached),
                    "mean_cpu_s_per_step": statistics.mean(r["cpu_s_per_step"] for r in reached),
                    "val_change_last_20pct": [r["val_change_last_20pct"] for r in reached]}
        if m != "transformer":
            diffs = [runs[f"{m}-s{s}"]["test_loss"] - runs[f"transformer-s{s}"]["test_loss"] for s in SEEDS
                     if f"{m}-s{s}" in runs and f"transformer-s{s}" in runs]
            if diffs:
                paired[f"{m} - transformer"] = {"diffs": diffs, "mean": statistics.mean(diffs), "ci95": interval(diffs)}
        # steps and training time to reach the same seed's transformer final validation loss; CPU
        # seconds (steps x the run's CPU seconds per step) do not count time lost to other processes
        reach[m] = {}
        for s in SEEDS:
            if f"{m}-s{s}" in runs and f"transformer-s{s}" in runs:
                run, target = runs[f"{m}-s{s}"], runs[f"transformer-s{s}"]["final_val_loss"]
                steps = time_to_reach(run["val_curve"], target, "step")
                reach[m][f"s{s}"] = {"steps": steps, "wall_s": time_to_reach(run["val_curve"], target),
                                     "cpu_s": None if steps is None else steps * run["cpu_s_per_step"]}
    return {"steps": max((r["steps"] for r in runs.values()), default=None), "val_windows": VAL_WINDOWS,
            "attractor_candidates": list(CANDIDATES),
            "attractor_chosen_on_val": chosen, "table": table, "paired_test_loss": paired,
            "time_to_transformer_final_val_loss": reach, "runs": runs}


def chosen_attractor(out: Path = OUT) -> str | None:
    """The candidate with the lower best validation loss on seed 0 (None until both have run)."""
    best = {}
    for c in CANDIDATES:
        curve = val_curve(out / f"{c}-s{SEEDS[0]}")
        if not curve:
            return None
        best[c] = min(x["val_loss"] for x in curve)
    return min(best, key=best.get)


def render(summary: dict) -> str:
    lines = [f"# LM study tables ({summary['steps']} steps; generated by `python -m benchmarks.lm_study`)", "",
             f"Command: `OMP_NUM_THREADS=1 python -m benchmarks.lm_study --jobs 2 --steps {summary['steps']}`; summary at "
             f"commit {summary['commit']}, {summary['date']}; machine: {MACHINE}; seeds {', '.join(map(str, SEEDS))}.", "",
             f"Attractor recipe chosen on seed-0 validation loss: `{summary['attractor_chosen_on_val']}`.", "",
             "| model | parameters | seeds | test loss (mean) | 95% CI (seeds) | test ppl | best val loss | train wall s | CPU ms / step | val change, last 20% |",
             "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |"]
    for m, t in summary["table"].items():
        ci = "" if t["test_loss_ci95"] is None else f"[{t['test_loss_ci95'][0]:.4f}, {t['test_loss_ci95'][1]:.4f}]"
        flat = ", ".join("n/a" if v is None else f"{v:+.4f}" for v in t["val_change_last_20pct"])
        lines.append(f"| {m} | {t['parameters']:,} | {t['seeds']} | {t['mean_test_loss']:.4f} | {ci} | {t['mean_test_ppl']:.3f} "
                     f"| {t['mean_best_val_loss']:.4f} | {t['mean_train_time_s']:.0f} | {1000 * t['mean_cpu_s_per_step']:.0f} | {flat} |")
    lines += ["", "| paired (test loss) | per seed | mean | 95% CI |", "| --- | --- | ---: | --- |"]
    for k, p in summary["paired_test_loss"].items():
        ci = "" if p["ci95"] is None else f"[{p['ci95'][0]:+.4f}, {p['ci95'][1]:+.4f}]"
        lines.append(f"| {k} | {', '.join(f'{d:+.4f}' for d in p['diffs'])} | {p['mean']:+.4f} | {ci} |")
    lines += ["", "To reach the same seed's transformer final validation loss: steps / training wall s / CPU s "
                  "(steps x CPU s per step); never: not reached:", ""]
    for m, r in summary["time_to_transformer_final_val_loss"].items():
        lines.append(f"- {m}: " + ", ".join(f"{s} never" if t["steps"] is None else
                                            f"{s} {t['steps']} / {t['wall_s']:.0f} / {t['cpu_s']:.0f}" for s, t in r.items()))
    runs = summary["runs"]
    lines += ["", "| run | attractor modes: test loss (iterations) |", "| --- | --- |"]
    for name, r in runs.items():
        lines.append(f"| {name} | " + ", ".join(f"{s['mode']} {s['loss']:.4f} ({s['mean_iterations']:.1f})" for s in r["sweep"]) + " |")
    return "\n".join(lines) + "\n"


def plot(summary: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    colors = {"transformer": "C0", "looped": "C1", "attractor": "C2", "attractor_ref": "C3"}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, r in summary["runs"].items():
        model = name.rsplit("-s", 1)[0]
        c = r["val_curve"]
        ax.plot([x["train_time_s"] for x in c], [x["val_loss"] for x in c], color=colors.get(model, "k"), alpha=0.8,
                label=model if name.endswith("-s0") else None)
    ax.set_xlabel("training time, s (steps only, one thread)")
    ax.set_ylabel(f"validation loss (first {VAL_WINDOWS} windows)")
    ax.set_title("Tiny Shakespeare (char): validation loss against training time")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (each one thread)")
    parser.add_argument("--summarise-only", action="store_true")
    parser.add_argument("--outputs", type=Path, default=OUT.parent, help=f"the runs go to OUTPUTS/{OUT.name}/")
    parser.add_argument("--results", type=Path, default=RESULTS.parent, help="folder of the summary, tables and plot")
    args = parser.parse_args()
    out, results = args.outputs / OUT.name, args.results / RESULTS.name
    if not args.summarise_only:
        out.mkdir(parents=True, exist_ok=True)
        in_parallel(args.jobs, run_one, [(m, SEEDS[0], args.steps, out)
                                         for m in ("attractor", "attractor_ref", "transformer", "looped")])
        chosen = chosen_attractor(out)
        in_parallel(args.jobs, run_one, [(m, s, args.steps, out) for s in SEEDS[1:] for m in (chosen, "looped", "transformer")])
    summary = summarise(chosen_attractor(out), out)
    summary["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                       text=True).stdout.strip()
    summary["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    summary["machine"] = MACHINE
    write_json(f"{results}.json", summary)
    write_text(f"{results}_tables.md", render(summary))
    plot(summary, Path(f"{results}_val_loss.png"))
    print(render(summary))


if __name__ == "__main__":
    main()
