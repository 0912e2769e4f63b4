"""The recursive-reasoners study on CPU: transformer, looped, attractor, TRM, TRM-DEQ and an EqR-style
TRM on generated 6x6 Sudoku (8 blanks of 36), equal parameters (two blocks of width 32 each, ~25k), equal optimizer
steps, 3 seeds, one job at a time; then test-time depth (more segments than trained) for the models
that carry state, and the EqR-style model's breadth curve (K random initial latents).

    OMP_NUM_THREADS=1 python -m benchmarks.reasoners            # everything (resumes: finished runs are kept)
    python -m benchmarks.reasoners --summarise-only             # only rebuild the JSON summary

Runs go to outputs/reasoners_cpu/<model>-s<seed>/; the summary to docs/results/reasoners_cpu.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attractor.io import write_json, write_text  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "outputs" / "reasoners_cpu"
SUMMARY = ROOT / "docs" / "results" / "reasoners_cpu.json"
TABLES = ROOT / "docs" / "results" / "reasoners_cpu_tables.md"
SEEDS = (0, 1, 2)
COMMON = ["logger=csv", "task.data.size=6", "task.data.blanks=8", "task.batch_size=32", "model.dim=32",
          "model.n_heads=2", "train.max_steps=250", "train.val_every_steps=50", "train.val_max_items=100",
          "train.checkpoint_every_steps=250", "eval_after_fit=false",
          "optim.lr=3e-3", "optim.warmup_steps=25",
          f"task.data.data_dir={OUT / 'data'}"]
# The TRM family's recipe, shrunk to the shared 2-core CPU: T = 2 cycles, n = 1 update, 2 ACT segments,
# stablemax; TRM-DEQ's solve at most 5 evaluations (the last 2 backpropagated).
RECURSIVE = ["model.n_layers=2", "model.h_cycles=2", "train.supervision_steps=2", "train.act=true",
             "train.halt_exploration=0.1", "train.loss=stablemax"]
MODELS = {  # run in this order within a seed
    "transformer": ["model=transformer", "model.n_layers=2"],
    "looped": ["model=looped", "model.prelude_layers=1", "model.core_layers=1", "model.loops=4"],
    "trm": ["model=trm", "model.l_cycles=1", *RECURSIVE],
    "eqr": ["model=trm", "model.l_cycles=1", "model.latent_init=random", "model.damping=0.95", "model.noise_std=0.01",
            *RECURSIVE],
    "trm_deq": ["model=trm_deq", "solver=last_k", "solver.max_iter=5", "solver.tol=1e-3", "solver.jac_reg_weight=0",
                *RECURSIVE],
    "attractor": ["model=attractor", "model.backbone_layers=1", "model.f_layers=1", "solver=last_k"],
}
CARRIES_STATE = ("trm", "trm_deq", "eqr")
# The inference-mode sweep, trimmed to what the shared CPU affords (eval.py's default runs 1..32).
_SWEEP = "[none,'iters=1','iters=2','iters=4','iters=8',solver]"  # quoted: Hydra's list grammar
EVAL_MODES = {"transformer": "[solver]", "looped": "['iters=1','iters=2','iters=4','iters=8','iters=16',solver]",
              "attractor": _SWEEP, "trm": _SWEEP, "trm_deq": _SWEEP, "eqr": _SWEEP}
DEPTH_SEGMENTS = 6  # test-time depth: segments per puzzle at evaluation (trained: 2)
BREADTH = ["scaling=cpu", "scaling.noise.kind=random", "scaling.noise.scale=1.0", "scaling.ks=[1,2,4,8]",
           "scaling.depths=[1,2,4,8]", "scaling.breadth_depths=[4]",
           "scaling.energies=[residual,nll,q_halt]", "scaling.plot_methods=[]"]


def python(args: list[str], log: Path) -> None:
    """Run one job (train.py / eval.py) to completion, its output in ``log``; fail loudly."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "WANDB_MODE": "disabled"}
    start = time.time()
    with open(log, "w") as fh:
        code = subprocess.call([sys.executable, *args], cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env=env)
    print(f"[{time.strftime('%H:%M:%S')}] {' '.join(args[:2])} ... -> {code} in {time.time() - start:.0f}s", flush=True)
    if code:
        raise RuntimeError(f"{args} failed; see {log}")


def run_all() -> None:
    """Seed-major and model by model (train, evaluate, then test-time depth and breadth), so a study
    cut short still has complete rows for the seeds and models it reached."""
    OUT.mkdir(parents=True, exist_ok=True)
    for seed in SEEDS:
        for model, overrides in MODELS.items():
            run_dir, tag = OUT / f"{model}-s{seed}", OUT / f"{model}-s{seed}"
            ckpt = f"ckpt={run_dir / 'checkpoints' / 'last.ckpt'}"
            if not (run_dir / "metrics.json").exists():
                python(["train.py", *COMMON, *overrides, f"seed={seed}", f"name={model}-s{seed}",
                        f"hydra.run.dir={run_dir}", "ckpt_path=null"], Path(f"{tag}.train.log"))
            if not (run_dir / "eval.json").exists():
                python(["eval.py", ckpt, f"modes={EVAL_MODES[model]}", f"out_dir={run_dir}"], Path(f"{tag}.eval.log"))
            if model in CARRIES_STATE and not (run_dir / "depth" / "eval.json").exists():
                python(["eval.py", ckpt, f"segments={DEPTH_SEGMENTS}", "modes=[solver]", f"out_dir={run_dir / 'depth'}"],
                       Path(f"{tag}.depth.log"))
            if model == "eqr" and not (run_dir / "scaling" / "test" / "scaling.json").exists():
                python(["eval.py", "action=scale", ckpt, *BREADTH, f"out_dir={run_dir / 'scaling'}"], Path(f"{tag}.scale.log"))


def val_curve(run_dir: Path) -> list[dict]:
    """Validation exact accuracy at every validation step (the CSV logger's rows)."""
    path = run_dir / "logs" / "metrics.csv"
    if not path.exists():
        return []
    rows = [r for r in csv.DictReader(open(path)) if r.get("val/exact_acc")]
    return [{"step": int(r["step"]), "val_exact_acc": float(r["val/exact_acc"])} for r in rows]


def summarise() -> dict:
    runs, table = {}, {}
    for model in MODELS:
        for seed in SEEDS:
            run_dir = OUT / f"{model}-s{seed}"
            if not (run_dir / "eval.json").exists():
                continue
            ev = json.loads((run_dir / "eval.json").read_text())
            metrics = json.loads((run_dir / "metrics.json").read_text())
            entry = {"parameters": ev["parameters"], "steps": metrics["steps"], "train_time_s": metrics["train_time_s"],
                     "n_items": ev["n_items"], "exact_acc": ev["exact_acc"], "exact_ci95": ev["exact_ci95"],
                     "cell_acc": ev["cell_acc"], "val_curve": val_curve(run_dir),
                     "sweep": [{k: s[k] for k in ("mode", "exact_acc", "exact_ci95", "mean_iterations")}
                               for s in ev["sweep"]]}
            default = next(s for s in ev["sweep"] if s["mode"] == "solver")
            if default.get("halted"):
                entry["halted"] = default["halted"]
            depth = run_dir / "depth" / "eval.json"
            if depth.exists():
                d = json.loads(depth.read_text())["sweep"][0]
                entry["by_segment"] = d["by_segment"]
                entry["halted_up_to_depth"] = d["halted"]
            scaling = run_dir / "scaling" / "test" / "scaling.json"
            if scaling.exists():
                s = json.loads(scaling.read_text())
                entry["breadth"] = [{k: r[k] for k in ("k", "depth", "method", "accuracy", "ci95", "distinct_answers",
                                                       "fevals")} for r in s["breadth"]]
                entry["scaling_depth"] = [{k: r[k] for k in ("depth", "fevals", "accuracy", "ci95")} for r in s["depth"]]
            runs[f"{model}-s{seed}"] = entry
        accs = [runs[f"{model}-s{s}"]["exact_acc"] for s in SEEDS if f"{model}-s{s}" in runs]
        if accs:
            table[model] = {"seeds": len(accs), "mean_exact_acc": statistics.mean(accs),
                            "sd_exact_acc": statistics.stdev(accs) if len(accs) > 1 else None}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    summary = {"command": "OMP_NUM_THREADS=1 python -m benchmarks.reasoners", "commit": commit,
               "machine": "2-core CPU, shared with other jobs", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "common_overrides": COMMON, "models": MODELS, "depth_segments": DEPTH_SEGMENTS, "breadth": BREADTH,
               "table": table, "runs": runs}
    write_json(SUMMARY, summary)
    if runs:
        write_text(TABLES, render(summary))
    return summary


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def ci(row: dict, key: str = "exact_ci95") -> str:
    lo, hi = row[key]
    return f"[{pct(lo)}, {pct(hi)}]"


def render(summary: dict) -> str:
    """The study's tables as markdown, from the summary JSON alone."""
    runs, lines = summary["runs"], [f"<!-- generated by benchmarks/reasoners.py at commit {summary['commit']}, "
                                    f"{summary['date']} -->", ""]
    lines += ["| model | params | seed | steps | train s | exact % [95% CI] (full test set) | cell % | val exact % by step |",
              "| --- | ---: | ---: | ---: | ---: | --- | ---: | --- |"]
    for name, r in runs.items():
        model, seed = name.rsplit("-s", 1)
        curve = " ".join(f"{c['step'] + 1}:{pct(c['val_exact_acc'])}" for c in r["val_curve"])
        lines.append(f"| {model} | {r['parameters']:,} | {seed} | {r['steps']} | {r['train_time_s']:.0f} | "
                     f"{pct(r['exact_acc'])} {ci(r)} | {pct(r['cell_acc'])} | {curve} |")
    lines += ["", "| model | seeds | mean exact % | sd |", "| --- | ---: | ---: | ---: |"]
    for model, t in summary["table"].items():
        sd = "–" if t["sd_exact_acc"] is None else pct(t["sd_exact_acc"])
        lines.append(f"| {model} | {t['seeds']} | {pct(t['mean_exact_acc'])} | {sd} |")
    lines += ["", "Inference-mode sweep (exact %, trained segments; mean applications of the net or map):", "",
              "| run | mode: exact % (evaluations) |", "| --- | --- |"]
    for name, r in runs.items():
        if len(r["sweep"]) > 1:
            lines.append(f"| {name} | " + "; ".join(f"{s['mode']}: {pct(s['exact_acc'])} ({s['mean_iterations']:.0f})"
                                                   for s in r["sweep"]) + " |")
    lines += ["", f"Accuracy vs segments (trained 2; evaluated up to {summary['depth_segments']}), exact %:", "",
              "| run | " + " | ".join(str(i + 1) for i in range(summary["depth_segments"])) + " | halted on Q (mean segments) |",
              "| --- |" + " ---: |" * (summary["depth_segments"] + 1)]
    for name, r in runs.items():
        if "by_segment" in r:
            h = r["halted_up_to_depth"]
            lines.append(f"| {name} | " + " | ".join(pct(b["exact_acc"]) for b in r["by_segment"]) +
                         f" | {pct(h['exact_acc'])} {ci(h)} ({h['mean_segments']:.2f}) |")
    for name, r in runs.items():
        if "breadth" in r:
            lines += ["", f"Breadth, {name} (K random initial latents, one forward of the given cycles each):", "",
                      "| K | depth | method | exact % [95% CI] | distinct answers / puzzle | net evals / puzzle |",
                      "| ---: | --- | --- | --- | ---: | ---: |"]
            for b in r["breadth"]:
                if b["method"] in ("proposal", "majority", "lowest_energy[residual]", "lowest_energy[q_halt]",
                                   "lowest_energy[nll]", "gibbs[q_halt|boltzmann(beta=1.0,standardize=True)]", "verifier"):
                    lines.append(f"| {b['k']} | {b['depth']} | {b['method']} | {pct(b['accuracy'])} {ci(b, 'ci95')} | "
                                 f"{b['distinct_answers']:.2f} | {b['fevals']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--summarise-only", action="store_true")
    args = p.parse_args()
    if not args.summarise_only:
        run_all()
    summary = summarise()
    print(json.dumps(summary["table"], indent=1))


if __name__ == "__main__":
    main()
