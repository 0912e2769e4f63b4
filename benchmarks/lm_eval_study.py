"""The LM study's three models on lm-evaluation-harness tasks built from held-out Tiny Shakespeare,
in every inference mode (issue 26). Short CPU runs (800 steps, one seed), not the study's converged
checkpoints: the point is the evaluation path and the mode comparison, not the absolute figures.

    OMP_NUM_THREADS=1 python -m benchmarks.lm_eval_study       # trains what is missing, builds the tasks, scores

Each model as in the LM study (``STUDY_MODELS``) (4 blocks of width 96; the attractor in the recipe that study
chose on validation, the reference code's) trains one run, one after another, to
outputs/lm_eval_cpu/<model>-s0/. The tasks (a LAMBADA-style last word, a 4-way next-line choice and
the passages' rolling bits per byte) are written to outputs/lm_eval_cpu/tasks/ from the test split of
the runs' prepared corpus (``attractor.evaluation.lm_harness_tasks``); each run's best-validation
checkpoint is then scored by ``eval.py action=lm_eval`` in every mode. Summary:
docs/results/lm_eval_cpu.json and _tables.md.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attractor.io import write_json, write_text  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "outputs" / "lm_eval_cpu"
RESULTS = ROOT / "docs" / "results" / "lm_eval_cpu"
STEPS = 800
SEED = 0
MACHINE = "2-core AMD EPYC CPU, no GPU, one thread, machine shared with other jobs"
PREFIX = "shakespeare"
TASK_NAMES = (f"{PREFIX}_last_word", f"{PREFIX}_choice", f"{PREFIX}_rolling")
STUDY_MODELS = {  # the LM study's models (4 blocks of width 96, ~0.45M parameters; docs/results/lm_study_cpu.md)
    "transformer": ["experiment=lm_shakespeare", "model=transformer"],
    "looped": ["experiment=lm_shakespeare", "model=looped"],
    "attractor_ref": ["experiment=lm_ref", "model.dim=96", "model.n_heads=4"],
}
MODES = {"transformer": ["solver"],  # the looped model's `solver` is its trained 4 loops
         "looped": ["solver", "iters=1", "iters=2", "iters=8", "none"],
         "attractor_ref": ["solver", "iters=1", "iters=2", "iters=4", "none"]}


def overrides(model: str, out: Path = OUT) -> list[str]:
    """The study's model, 800 steps; validation every 200 steps on its first 256 windows picks best.ckpt."""
    return [*STUDY_MODELS[model], f"train.max_steps={STEPS}", f"train.val_every_steps={STEPS // 4}",
            f"train.checkpoint_every_steps={STEPS}", "train.val_max_items=256", f"seed={SEED}",
            f"name=lm_eval-{model}-s{SEED}", f"hydra.run.dir={out / f'{model}-s{SEED}'}", "ckpt_path=null"]


def python(args: list[str], log: Path) -> None:
    """Run train.py / eval.py to completion (one thread), its output in ``log``; fail naming the log."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "WANDB_MODE": "disabled"}
    with open(log, "w") as fh:
        if subprocess.call([sys.executable, *args], cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env=env):
            raise RuntimeError(f"{args[:2]} failed; see {log}")


def build_tasks(ckpt: Path, out: Path = OUT) -> dict[str, int]:
    """The local tasks from the test split of the corpus ``ckpt`` was trained on."""
    from attractor.evaluation.checkpoint import load_checkpoint
    from attractor.evaluation.lm_harness_tasks import build
    from attractor.tasks.harness import build_datamodule

    data_dir = build_datamodule(load_checkpoint(ckpt).run).data_dir
    counts = build(data_dir, out / "tasks", PREFIX, seed=SEED)
    write_json(out / "tasks" / "counts.json", {"prepared": str(data_dir), "documents": counts})
    return counts


def score(model: str, out: Path = OUT) -> None:
    run_dir = out / f"{model}-s{SEED}"
    modes = "[" + ",".join(f"'{m}'" for m in MODES[model]) + "]"
    python(["eval.py", "action=lm_eval", f"ckpt={run_dir / 'checkpoints' / 'best.ckpt'}",
            f"tasks=[{','.join(TASK_NAMES)}]", f"task_paths=[{out / 'tasks'}]", f"modes={modes}", f"out_dir={run_dir}",
            "device=cpu", "batch_size=32"], out / f"{model}-s{SEED}.lm_eval.log")


def summarise(out: Path = OUT) -> dict:
    models = {}
    for model in MODES:
        run_dir = out / f"{model}-s{SEED}"
        metrics, report = (json.loads((run_dir / name).read_text()) for name in ("metrics.json", "lm_eval.json"))
        models[model] = {"parameters": report["parameters"], "steps": metrics["steps"],
                         "train_tokens": metrics["steps"] * 16 * 128, "train_wall_s": metrics["train_time_s"],
                         "train_cpu_s": metrics["train_cpu_time_s"], "val_loss": metrics["final"]["val/loss"],
                         "checkpoint": report["source"], "seconds": report["seconds"], "table": report["table"]}
    return {"steps": STEPS, "seed": SEED, "tasks": list(TASK_NAMES),
            "documents": json.loads((out / "tasks" / "counts.json").read_text())["documents"], "models": models}


def render(summary: dict) -> str:
    lines = ["# Harness tasks on held-out Tiny Shakespeare (generated by `python -m benchmarks.lm_eval_study`)", "",
             f"Commit {summary['commit']}, {summary['date']}; machine: {summary['machine']}; seed {summary['seed']}; "
             f"{summary['steps']} training steps of 16 x 128 tokens per model. Documents: "
             + ", ".join(f"{name} {n}" for name, n in summary["documents"].items() if name in summary["tasks"]) + ".",
             "", "| model | mode | last word acc [95% CI] | last word ppl | next line acc [95% CI] "
             "| next line acc_norm [95% CI] | passages bits/byte | seconds |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for model, m in summary["models"].items():
        cells = {(r["mode"], r["task"], r["metric"]): r for r in m["table"]}
        for mode, seconds in m["seconds"].items():
            figures = [_cell(cells[(mode, f"{PREFIX}_{task}", metric)]) for task, metric in
                       (("last_word", "acc"), ("last_word", "perplexity"), ("choice", "acc"), ("choice", "acc_norm"),
                        ("rolling", "bits_per_byte"))]
            lines.append(f"| {model} | {mode} | " + " | ".join(figures) + f" | {seconds:.0f} |")
    lines += ["", "| model | parameters | steps | training tokens | train wall s | train CPU s | last val loss |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for model, m in summary["models"].items():
        lines.append(f"| {model} | {m['parameters']:,} | {m['steps']} | {m['train_tokens']:,} | {m['train_wall_s']:.0f} "
                     f"| {m['train_cpu_s']:.0f} | {m['val_loss']:.4f} |")
    return "\n".join(lines) + "\n"


def _cell(row: dict) -> str:
    """An accuracy with its Wilson interval; another metric with the harness's (bootstrap) stderr."""
    if row["ci95"]:
        return f"{row['value']:.3f} [{row['ci95'][0]:.3f}, {row['ci95'][1]:.3f}]"
    form = ",.0f" if row["value"] >= 100 else ".3f"
    return f"{row['value']:{form}}" + (f" ± {row['stderr']:{form}}" if row["stderr"] is not None else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--summarise-only", action="store_true")
    parser.add_argument("--outputs", type=Path, default=OUT.parent, help=f"the runs go to OUTPUTS/{OUT.name}/")
    parser.add_argument("--results", type=Path, default=RESULTS.parent, help="folder of the summary and tables")
    args = parser.parse_args()
    out, results = args.outputs / OUT.name, args.results / RESULTS.name
    for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):  # the tasks are local files: no hub lookups
        os.environ.setdefault(name, "1")
    start = time.time()
    if not args.summarise_only:
        out.mkdir(parents=True, exist_ok=True)
        for model in MODES:
            if not (out / f"{model}-s{SEED}" / "metrics.json").exists():
                python(["train.py", *overrides(model, out)], out / f"{model}-s{SEED}.train.log")
        build_tasks(out / f"transformer-s{SEED}" / "checkpoints" / "best.ckpt", out)
        for model in MODES:
            score(model, out)
    summary = summarise(out)
    summary["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                       text=True).stdout.strip()
    summary["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    summary["machine"] = MACHINE
    summary["wall_s"] = None if args.summarise_only else time.time() - start
    write_json(f"{results}.json", summary)
    write_text(f"{results}_tables.md", render(summary))
    print(render(summary))


if __name__ == "__main__":
    main()
