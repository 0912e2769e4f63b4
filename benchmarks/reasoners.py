"""Puzzle model studies on CPU, one job per core: equal parameters, equal optimizer steps, 3 seeds,
the checkpoint chosen on the whole validation split, the whole test set scored.

- ``reasoners`` (issue 12): transformer, looped, attractor, TRM, TRM-DEQ and an EqR-style TRM on
  generated 6x6 Sudoku (8 blanks of 36), two blocks of width 32 each (~25k parameters); then
  test-time depth (more segments than trained) for the models that carry state, and the EqR-style
  model's breadth curve (K random initial latents).
- ``recipes`` (issue 16): the project's default 6x6 setting (width 64, four blocks, ~202k
  parameters): transformer, looped, and the attractor under three recipes (the published puzzle
  solver; the reference LM code's gates, initialisation and Neumann-1 solver; its gates and
  initialisation with the puzzle solver), each on the first seed; the one with the best validation
  accuracy runs the other seeds.
- ``ladder`` (issue 14): the ``reasoners`` models and sizes on the Sudoku depth ladder (train on
  depths 1-3 of rounds of singles, test on 1-6 and needs-search), with accuracy per depth in every
  inference mode, the correlation of iterations with depth, FLOPs per step and depth plots
  (``benchmarks/ladder.py``).

    OMP_NUM_THREADS=1 python -m benchmarks.reasoners --study reasoners   # resumes: finished runs are kept
    python -m benchmarks.reasoners --study recipes --jobs 2               # two single-thread jobs at a time
    python -m benchmarks.reasoners --study recipes --summarise-only       # only rebuild the JSON and tables
    python -m benchmarks.reasoners --study ladder --jobs 2

Runs go to outputs/<study>_cpu/<model>-s<seed>/; the summary to docs/results/<study>_cpu.json.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attractor.io import write_json, write_text  # noqa: E402
from attractor.stats import seed_interval  # noqa: E402
from benchmarks import ladder  # noqa: E402
from benchmarks.flops import train_step_flops  # noqa: E402
from benchmarks.reasoners_report import render  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Study:
    """One comparison: overrides shared by every run, each model's own, and what to evaluate."""

    name: str
    steps: int
    common: list[str]
    models: dict[str, list[str]]
    eval_modes: dict[str, str]
    carries_state: tuple[str, ...] = ()
    breadth_models: tuple[str, ...] = ()
    selection_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)  # label -> candidates
    adaptive_models: tuple[str, ...] = ()  # also evaluated to looser solver tolerances (ADAPTIVE_TOLS)
    ladder: bool = False  # per-depth figures, FLOPs per training step and depth plots (benchmarks/ladder.py)
    outputs: Path = ROOT / "outputs"  # the runs go to outputs/<name>_cpu/
    results: Path = ROOT / "docs" / "results"  # the summary and tables

    @property
    def out(self) -> Path:
        return self.outputs / f"{self.name}_cpu"

    @property
    def summary_path(self) -> Path:
        return self.results / f"{self.name}_cpu.json"

    @property
    def tables_path(self) -> Path:
        return self.results / f"{self.name}_cpu_tables.md"

    def overrides(self, model: str, seed: int) -> list[str]:
        every = max(1, self.steps // 10)
        return [*self.common, f"train.max_steps={self.steps}", f"train.val_every_steps={every}",
                f"train.checkpoint_every_steps={self.steps}", "train.val_max_items=0", "logger=csv",
                "eval_after_fit=false", f"task.data.data_dir={self.out / 'data'}", *self.models[model],
                f"seed={seed}", f"name={model}-s{seed}", f"hydra.run.dir={self.out / f'{model}-s{seed}'}",
                "ckpt_path=null"]


# The TRM family's recipe, shrunk to the 2-core CPU: T = 2 cycles, n = 1 update, 2 ACT segments,
# stablemax; TRM-DEQ's solve at most 5 evaluations (the last 2 backpropagated).
RECURSIVE = ["model.n_layers=2", "model.h_cycles=2", "train.supervision_steps=2", "train.act=true",
             "train.halt_exploration=0.1", "train.loss=stablemax"]
# The inference-mode sweep, trimmed to what the CPU affords (eval.py's default runs 1..32).
_SWEEP = "[none,'iters=1','iters=2','iters=4','iters=8',solver]"  # quoted: Hydra's list grammar
_LOOPS = "['iters=1','iters=2','iters=4','iters=8','iters=16',solver]"
REASONERS = Study(
    name="reasoners", steps=1500,
    common=["task.data.size=6", "task.data.blanks=8", "task.batch_size=32", "model.dim=32", "model.n_heads=2",
            "optim.lr=3e-3", "optim.warmup_steps=25"],
    models={  # run in this order within a seed
        "transformer": ["model=transformer", "model.n_layers=2"],
        "looped": ["model=looped", "model.prelude_layers=1", "model.core_layers=1", "model.loops=4"],
        "trm": ["model=trm", "model.l_cycles=1", *RECURSIVE],
        "eqr": ["model=trm", "model.l_cycles=1", "model.latent_init=random", "model.damping=0.95",
                "model.noise_std=0.01", *RECURSIVE],
        "trm_deq": ["model=trm_deq", "solver=last_k", "solver.max_iter=5", "solver.tol=1e-3",
                    "solver.jac_reg_weight=0", *RECURSIVE],
        "attractor": ["model=attractor", "model.backbone_layers=1", "model.f_layers=1", "solver=last_k"],
    },
    eval_modes={"transformer": "[solver]", "looped": _LOOPS, "attractor": _SWEEP, "trm": _SWEEP, "trm_deq": _SWEEP,
                "eqr": _SWEEP},
    carries_state=("trm", "trm_deq", "eqr"), breadth_models=("eqr",))
RECIPES = Study(
    name="recipes", steps=1200,
    common=["optim.schedule=cosine"],
    models={
        "transformer": ["model=transformer"],
        "looped": ["model=looped"],
        "attractor_puzzle": ["model=attractor", "solver=last_k"],
        "attractor_ref": ["model=attractor_ref", "solver=reference_lm"],
        "attractor_ref_last_k": ["model=attractor_ref", "solver=last_k"],
    },
    eval_modes={"transformer": "[solver]", "looped": _LOOPS, "attractor_puzzle": _SWEEP, "attractor_ref": _SWEEP,
                "attractor_ref_last_k": _SWEEP},
    selection_groups={"attractor": ("attractor_puzzle", "attractor_ref", "attractor_ref_last_k")})
# The depth ladder (issue 14): the reasoners' six models at the same sizes on 6x6 Sudoku whose depth
# (rounds of singles) is known; train and validation spread over depths 1-3, the test set 150
# puzzles at each depth 1-6 and 150 that singles cannot finish, so most test items are deeper than any
# training item. Longer test-time sweeps than the reasoners' (up to 32), for extrapolation and overthinking.
TRAIN_DEPTHS, TEST_DEPTHS = (1, 2, 3), (1, 2, 3, 4, 5, 6, -1)
# The attractor's two recipes, screened on seed 0's validation: ours (the reasoners study's) and the
# reference code's gated map, initialisation and solver (one-step Neumann backward; 25,568 parameters),
# which the recipes study chose on validation in the default setting (docs/results/recipes_cpu.md).
ATTRACTOR_REF = ["model=attractor_ref", "model.backbone_layers=1", "model.f_layers=1", "solver=reference_lm"]
_LADDER_SWEEP = "[none,'iters=1','iters=2','iters=4','iters=8','iters=16','iters=32',solver]"
_LADDER_LOOPS = "['iters=1','iters=2','iters=4','iters=8','iters=16','iters=32',solver]"
LADDER = Study(
    name="ladder", steps=4000,  # calibration: transformer 2,000 steps in 79 s, val still +1.0 pt over the last 20%
    common=["task.data.size=6", "task.data.blanks=[6,26]", f"task.data.train_depths=[{','.join(map(str, TRAIN_DEPTHS))}]",
            f"task.data.test_depths=[{','.join(map(str, TEST_DEPTHS))}]", "task.data.n_train=3000",
            "task.data.n_val=300", f"task.data.n_test={150 * len(TEST_DEPTHS)}", "task.batch_size=32",
            "model.dim=32", "model.n_heads=2", "optim.lr=3e-3", "optim.warmup_steps=25"],
    models={**{m: o for m, o in REASONERS.models.items() if m != "attractor"},
            "attractor_puzzle": REASONERS.models["attractor"], "attractor_ref": ATTRACTOR_REF},
    eval_modes={"transformer": "[solver]", "looped": _LADDER_LOOPS, "attractor_puzzle": _LADDER_SWEEP,
                "attractor_ref": _LADDER_SWEEP, "trm": _LADDER_SWEEP, "trm_deq": _LADDER_SWEEP, "eqr": _LADDER_SWEEP},
    carries_state=REASONERS.carries_state, breadth_models=("eqr", "attractor_puzzle", "attractor_ref"),
    selection_groups={"attractor": ("attractor_puzzle", "attractor_ref")}, ladder=True,
    adaptive_models=("attractor_puzzle", "attractor_ref"))
STUDIES = {s.name: s for s in (REASONERS, RECIPES, LADDER)}
DEPTH_SEGMENTS = 6  # test-time depth: segments per puzzle at evaluation (trained: 2)
# Adaptive depth at looser tolerances than trained: at width 32 the attractor's solve reaches its
# trained tolerance (3e-4) on no item within 12 iterations, so its iterations cannot vary with depth.
ADAPTIVE_TOLS, ADAPTIVE_MAX_ITER = (1e-2, 3e-2), 64
BREADTH = ["scaling=cpu", "scaling.noise.kind=random", "scaling.noise.scale=1.0", "scaling.ks=[1,2,4,8,16]",
           "scaling.depths=[1,2,4,8]", "scaling.breadth_depths=[4,8]", "scaling.plot_methods=[]"]


def breadth_energies(study: Study, model: str) -> str:
    """The energies a model's particles are ranked by: the Q-head's where it has one (the recursive
    reasoners), the solve's trajectory spectral entropy where it has a solver trace (the attractor)."""
    return "scaling.energies=[residual,nll," + ("q_halt]" if model in study.carries_state else "trajectory_spectral_entropy]")


def python(args: list[str], log: Path) -> None:
    """Run one job (train.py / eval.py) to completion, its output in ``log``; fail loudly."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "WANDB_MODE": "disabled"}
    start = time.time()
    with open(log, "w") as fh:
        code = subprocess.call([sys.executable, *args], cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env=env)
    print(f"[{time.strftime('%H:%M:%S')}] {' '.join(args[:2])} ... -> {code} in {time.time() - start:.0f}s", flush=True)
    if code:
        raise RuntimeError(f"{args} failed; see {log}")


def run_one(study: Study, model: str, seed: int) -> None:
    """Train one run, then evaluate its validation-chosen checkpoint (inference-mode sweep, test-time
    depth for models that carry state, breadth for the EqR-style model); finished steps are kept."""
    run_dir = study.out / f"{model}-s{seed}"
    tag = study.out / f"{model}-s{seed}"
    ckpt = f"ckpt={run_dir / 'checkpoints' / 'best.ckpt'}"  # best on val/score: selection on validation only
    if not (run_dir / "metrics.json").exists():
        python(["train.py", *study.overrides(model, seed)], Path(f"{tag}.train.log"))
    if not (run_dir / "eval.json").exists():
        python(["eval.py", ckpt, f"modes={study.eval_modes[model]}", f"out_dir={run_dir}"], Path(f"{tag}.eval.log"))
    if model in study.carries_state and not (run_dir / "depth" / "eval.json").exists():
        python(["eval.py", ckpt, f"segments={DEPTH_SEGMENTS}", "modes=[solver]", f"out_dir={run_dir / 'depth'}"],
               Path(f"{tag}.depth.log"))
    for tol in ADAPTIVE_TOLS if model in study.adaptive_models else ():
        if not (run_dir / f"tol{tol:g}" / "eval.json").exists():
            python(["eval.py", ckpt, "modes=[solver]", f"solver.tol={tol}", f"solver.max_iter={ADAPTIVE_MAX_ITER}",
                    f"out_dir={run_dir / f'tol{tol:g}'}"], Path(f"{tag}.tol{tol:g}.log"))
    if model in study.breadth_models and not (run_dir / "scaling" / "test" / "scaling.json").exists():
        python(["eval.py", "action=scale", ckpt, *BREADTH, breadth_energies(study, model), f"out_dir={run_dir / 'scaling'}"], Path(f"{tag}.scale.log"))


def best_val(run_dir: Path) -> float:
    """A run's best validation exact accuracy (its chosen checkpoint's)."""
    return max((c["val_exact_acc"] for c in val_curve(run_dir)), default=0.0)


def chosen(study: Study, candidates: tuple[str, ...]) -> str:
    """The candidate with the best validation accuracy on the first seed: the screening that decides
    which recipe the other seeds run (the test split plays no part)."""
    return max(candidates, key=lambda c: best_val(study.out / f"{c}-s{SEEDS[0]}"))


def in_parallel(jobs: int, fn, calls: list[tuple]) -> None:
    """``fn(*args)`` for every args of ``calls``, ``jobs`` at a time (each launches one single-thread
    process); the first failure is raised once the calls already started have finished."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for done in [pool.submit(fn, *args) for args in calls]:
            done.result()


def run_units(study: Study, units: list[tuple[str, int]], jobs: int) -> None:
    in_parallel(jobs, run_one, [(study, model, seed) for model, seed in units])


def run_all(study: Study, jobs: int, seeds: tuple[int, ...] = SEEDS) -> None:
    """Seed-major, model by model, ``jobs`` runs at a time, so a study cut short still has complete
    rows for the seeds and models it reached. Candidates of a selection group run the first seed;
    only the one chosen on its validation runs the others."""
    study.out.mkdir(parents=True, exist_ok=True)
    first = [(model, SEEDS[0]) for model in study.models if SEEDS[0] in seeds]
    if first:
        run_one(study, *first.pop(0))  # generates the shared data once, before parallel runs could race to write it
        run_units(study, first, jobs)
    grouped = {c for candidates in study.selection_groups.values() for c in candidates}
    keep = [m for m in study.models if m not in grouped] + [chosen(study, c) for c in study.selection_groups.values()]
    later = [s for s in SEEDS[1:] if s in seeds]
    run_units(study, [(model, seed) for seed in later for model in study.models if model in keep], jobs)


def val_curve(run_dir: Path) -> list[dict]:
    """Validation exact accuracy at every validation step (the CSV logger's rows)."""
    path = run_dir / "logs" / "metrics.csv"
    if not path.exists():
        return []
    rows = [r for r in csv.DictReader(open(path)) if r.get("val/exact_acc")]
    return [{"step": int(r["step"]), "val_exact_acc": float(r["val/exact_acc"])} for r in rows]


def flatness(curve: list[dict], steps: int, key: str = "val_exact_acc") -> float | None:
    """Change of a validation figure (``key``) over the last 20% of steps (last point minus the first
    point at or after 80%): near 0 means the curve flattened."""
    tail = [c[key] for c in curve if c["step"] + 1 >= 0.8 * steps]
    return tail[-1] - tail[0] if len(tail) > 1 else None


def run_entry(study: Study, run_dir: Path) -> dict:
    """One finished run's figures: test scores of the validation-chosen checkpoint, curve, evaluations."""
    ev = json.loads((run_dir / "eval.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    curve = val_curve(run_dir)
    entry = {"parameters": ev["parameters"], "steps": metrics["steps"], "train_time_s": metrics["train_time_s"],
             "train_cpu_time_s": metrics.get("train_cpu_time_s"), "n_items": ev["n_items"],
             "exact_acc": ev["exact_acc"], "exact_ci95": ev["exact_ci95"], "cell_acc": ev["cell_acc"],
             "val_curve": curve, "best_val_exact_acc": max((c["val_exact_acc"] for c in curve), default=None),
             "val_change_last_20pct": flatness(curve, study.steps),
             "sweep": [{k: s[k] for k in ("mode", "exact_acc", "exact_ci95", "mean_iterations")} for s in ev["sweep"]]}
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
        sc = json.loads(scaling.read_text())
        entry["breadth"] = [{k: r[k] for k in ("k", "depth", "method", "accuracy", "ci95", "distinct_answers", "fevals")}
                            for r in sc["breadth"]]
        entry["scaling_depth"] = [{k: r[k] for k in ("depth", "fevals", "accuracy", "ci95")} for r in sc["depth"]]
    if study.ladder:
        entry["depth"] = ladder.depth_entry(run_dir)
    return entry


def model_row(runs: dict, model: str) -> dict | None:
    """Mean test exact accuracy over the seeds reached, with the seeds' t-interval, and mean best validation."""
    reached = [runs[f"{model}-s{s}"] for s in SEEDS if f"{model}-s{s}" in runs]
    if not reached:
        return None
    accs = [r["exact_acc"] for r in reached]
    row = {"seeds": len(accs), "mean_exact_acc": statistics.mean(accs),
           "sd_exact_acc": statistics.stdev(accs) if len(accs) > 1 else None,
           "seed_ci95": list(seed_interval(accs)) if len(accs) > 1 else None,
           "mean_best_val_exact_acc": statistics.mean(r["best_val_exact_acc"] or 0.0 for r in reached),
           "parameters": reached[0]["parameters"]}
    return row


def paired(runs: dict, model: str, baseline: str) -> dict | None:
    """Test exact accuracy of ``model`` minus ``baseline``, seed by seed (the same data and seed), with
    the t-interval of the mean difference: the comparison the seeds pair."""
    seeds = [s for s in SEEDS if f"{model}-s{s}" in runs and f"{baseline}-s{s}" in runs]
    diffs = [runs[f"{model}-s{s}"]["exact_acc"] - runs[f"{baseline}-s{s}"]["exact_acc"] for s in seeds]
    if len(diffs) < 2:
        return None
    return {"model": model, "baseline": baseline, "seeds": seeds, "differences": diffs,
            "mean": statistics.mean(diffs), "ci95": list(seed_interval(diffs))}


def summarise(study: Study) -> dict:
    runs = {f"{model}-s{seed}": run_entry(study, study.out / f"{model}-s{seed}")
            for model in study.models for seed in SEEDS if (study.out / f"{model}-s{seed}" / "eval.json").exists()}
    table = {model: row for model in study.models if (row := model_row(runs, model))}
    selected = {label: chosen(study, candidates) for label, candidates in study.selection_groups.items()
                if all(f"{c}-s{SEEDS[0]}" in runs for c in candidates)}
    comparisons = [c for pick in selected.values() for other in study.models
                   if other not in {m for group in study.selection_groups.values() for m in group}
                   if (c := paired(runs, pick, other))]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    summary = {"command": f"python -m benchmarks.reasoners --study {study.name} --jobs 2", "commit": commit,
               "machine": "2-core CPU (AMD EPYC), one thread per run, two runs at a time",
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "steps": study.steps,
               "common_overrides": study.common, "models": study.models, "depth_segments": DEPTH_SEGMENTS,
               "breadth": BREADTH, "table": table, "selected_on_validation": selected, "paired": comparisons, "runs": runs}
    if study.ladder:
        for model, row in table.items():
            row["by_depth"] = ladder.model_depth_row([runs[f"{model}-s{s}"] for s in SEEDS if f"{model}-s{s}" in runs])
            row["flops_per_step"] = train_step_flops([o for o in study.overrides(model, 0) if not o.startswith("hydra.")])["flops_per_step"]
        summary["trained_max_depth"] = max(TRAIN_DEPTHS)
        summary["plots"] = ladder.plot_study(summary, study.summary_path.with_suffix(""), max(TRAIN_DEPTHS))
    write_json(study.summary_path, summary)
    if runs:
        write_text(study.tables_path, render(summary, SEEDS[0]))
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--study", choices=sorted(STUDIES), default="reasoners")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time, one thread each (at most one per core)")
    p.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS),
                   help="run only these seeds (e.g. a second process on another core; they must not overlap)")
    p.add_argument("--summarise-only", action="store_true")
    p.add_argument("--outputs", type=Path, default=ROOT / "outputs", help="the runs go to OUTPUTS/<study>_cpu/")
    p.add_argument("--results", type=Path, default=ROOT / "docs" / "results", help="folder of the summary and tables")
    args = p.parse_args()
    study = dataclasses.replace(STUDIES[args.study], outputs=args.outputs, results=args.results)
    if not args.summarise_only:
        run_all(study, args.jobs, tuple(args.seeds))
    summary = summarise(study)
    print(json.dumps(summary["table"], indent=1))


if __name__ == "__main__":
    main()
