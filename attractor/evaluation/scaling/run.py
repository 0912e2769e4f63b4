"""Test-time scaling of a puzzle checkpoint along depth (more iterations) and breadth (K equilibria).

    python eval.py action=scale ckpt=outputs/RUN/checkpoints/last.ckpt [scaling.ks=[1,4,16]]
        [external=[../shared/data/sudoku/magictour_top1465.txt]] [test_data={blanks: null}] [max_items=...]

Options: the ``scaling`` config group (``ScalingConfig``, in ``config.py``). Writes, per dataset,
``scaling.json`` (accuracy per (K, depth, energy, weighting) with Wilson 95% intervals, the depth
sweep with per-item residuals, the model's own single-trajectory accuracy) and three figures. See
docs/scaling.md.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from attractor.config import from_mapping
from attractor.data import maze, sudoku
from attractor.evaluation.checkpoint import load_checkpoint
from attractor.evaluation.puzzle import external_dataset, puzzle_test_set, score
from attractor.evaluation.scaling.config import ScalingConfig
from attractor.evaluation.scaling.energies import equilibrium_energies
from attractor.evaluation.scaling.particles import Depth, NoiseConfig, check_scalable, depth_label, initial_states, solve_particles
from attractor.evaluation.scaling.plots import plot_accuracy_vs_residual, plot_equal_compute
from attractor.evaluation.scaling.select import Cloud, accuracy, breadth_rows, methods
from attractor.io import write_json
from attractor.models import Attractor, SequenceModel
from attractor.particles.plots import plot_energy_histograms
from attractor.stats import auroc
from attractor.tasks.puzzle import PUZZLES, PuzzleSpec, grid_metrics

# The external check behind the `verifier` upper-bound row: Sudoku rules and givens; maze path validity.
VERIFIERS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "sudoku": sudoku.valid,
    "maze": lambda pred, inputs: maze.correct(pred, inputs).to(pred.device),
}


@torch.no_grad()
def collect(model: SequenceModel, spec: PuzzleSpec, verifier: Callable, dataset: Dataset, k: int, depth: Depth,
            cfg: ScalingConfig, noise: NoiseConfig, energies: Sequence[str], device: str) -> Cloud:
    """Solve K particles of every puzzle at one depth, ``cfg.max_batch`` particles at a time."""
    answers, parts, offset = [], [], 0
    for batch in DataLoader(dataset, batch_size=max(1, cfg.max_batch // k), shuffle=False):
        inputs, labels = batch["inputs"].to(device), batch["labels"].to(device)
        b = len(inputs)
        states = initial_states(model, inputs, k, noise, range(offset, offset + b), cfg.seed, cfg.include_proposal)
        tokens = inputs.repeat_interleave(k, dim=0)
        out = solve_particles(model, tokens, states, depth, cfg.halting)
        pred = out.logits.argmax(dim=-1)
        grids = pred.to(torch.uint8).cpu().numpy()
        answers += [[g.tobytes().hex() for g in grids[i * k:(i + 1) * k]] for i in range(b)]
        m = grid_metrics(spec, out.logits, tokens, labels.repeat_interleave(k, dim=0))
        parts.append({
            "correct": m["solved"].cpu().view(b, k),
            "cells": (m["cells_right"] / m["cells_scored"].clamp(min=1)).double().cpu().view(b, k),
            "valid": verifier(pred, tokens).cpu().view(b, k),
            "iterations": out.stats["iterations"].cpu().view(b, k),
            "residual": out.stats["rel_residual"].double().cpu().view(b, k),
            **{f"E:{name}": v.view(b, k) for name, v in equilibrium_energies(
                energies, model, tokens, out, spec.scored_cells(tokens), cfg.power_iters, cfg.probes).items()},
        })
        offset += b
    cat = {key: torch.cat([p[key] for p in parts]) for key in parts[0]}
    return Cloud(answers, cat["correct"], cat["cells"], cat["valid"], cat["iterations"], cat["residual"],
                 {name: cat[f"E:{name}"] for name in energies})


def depth_row(cloud: Cloud, label: str, tol: float) -> dict[str, Any]:
    """One depth of the single-trajectory sweep, with every item's residual and correctness."""
    residual, right = cloud.residual[:, 0], cloud.correct[:, 0]
    return {"depth": label, "fevals": cloud.iterations[:, 0].double().mean().item(), **accuracy(right, cloud.cells[:, 0]),
            "median_rel_residual": residual.median().item(), "below_tol_fraction": (residual <= tol).double().mean().item(),
            "items": {"rel_residual": residual.tolist(), "correct": right.tolist(),
                      "iterations": cloud.iterations[:, 0].tolist()}}


def scale_dataset(model: SequenceModel, spec: PuzzleSpec, verifier: Callable, dataset: Dataset, cfg: ScalingConfig,
                  device: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Depth sweep and breadth grid on one dataset; returns the report and what the figures need."""
    looped = not isinstance(model, Attractor)  # looped and recursive models: fixed loop / cycle counts
    skipped = [f"halt: a {type(model).__name__} runs a fixed loop or cycle count"] if looped else []
    keep = [d for d in cfg.depths if not (looped and d == "halt")]
    t0 = time.perf_counter()
    sweep = [(d, collect(model, spec, verifier, dataset, 1, d, cfg, NoiseConfig("none", 0.0), (), device)) for d in keep]
    depth_rows = [depth_row(c, depth_label(d, cfg.halting), cfg.halt_tol) for d, c in sweep]
    t1 = time.perf_counter()
    all_methods = methods(cfg.energies, cfg.weightings)
    rows, aurocs, last = [], {}, None
    for d in [d for d in cfg.breadth_depths if not (looped and d == "halt")]:
        cloud = collect(model, spec, verifier, dataset, cfg.ks[-1], d, cfg, cfg.noise, cfg.energies, device)
        label = depth_label(d, cfg.halting)
        rows += breadth_rows(cloud, cfg.ks, all_methods, label)
        aurocs[label] = {e: auroc((-v).flatten().tolist(), cloud.correct.flatten().tolist())
                         for e, v in cloud.energies.items()}
        last = cloud
    fixed = [r for (d, _), r in zip(sweep, depth_rows) if d != "halt"]
    for row in rows:
        cheaper = [r for r in fixed if r["fevals"] <= row["fevals"] + 1e-9]
        row["one_trajectory_same_fevals"] = max(cheaper, key=lambda r: r["fevals"])["accuracy"] if cheaper else None
    report = {"n_items": len(dataset), "depth": depth_rows, "breadth": rows, "energy_auroc": aurocs,
              "skipped": skipped, "timing_s": {"depth": t1 - t0, "breadth": time.perf_counter() - t1}}
    pooled = (torch.cat([c.residual[:, 0] for _, c in sweep]), torch.cat([c.correct[:, 0] for _, c in sweep]))
    return report, {"pooled": pooled, "last": last}


def run_scaling(ckpt: str | Path, out_dir: str | Path, cfg: ScalingConfig, external: Sequence[str] = (),
                max_items: int | None = None, device: str | None = None,
                test_data: Mapping[str, Any] | None = None, weights: str | None = None) -> dict[str, dict[str, Any]]:
    """Scale a checkpoint on its generated test set (or the one ``test_data`` describes: see
    ``evaluation.puzzle.puzzle_test_set``) and on each external list; one folder each."""
    run, model, weights = load_checkpoint(ckpt, weights)
    model = check_scalable(model)
    if run.task.name not in PUZZLES:
        raise ValueError(f"{ckpt} is a {run.task.name!r} checkpoint; test-time scaling scores puzzles")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    spec, verifier = PUZZLES[run.task.name], VERIFIERS[run.task.name]
    test, generation = puzzle_test_set(run, test_data, max_items)
    datasets = {"test": test}
    datasets |= {Path(p).stem: external_for(p, run, ckpt) for p in external}
    own_mode = getattr(run.model, "inference", "solver")
    reports = {}
    for name, dataset in datasets.items():
        report, figures = scale_dataset(model, spec, verifier, dataset, cfg, device)
        single = score(model, spec, dataset, own_mode, run.task.eval_batch_size, device, run.train.supervision_steps)
        folder = Path(out_dir) / name
        reports[name] = {"checkpoint": str(ckpt), "weights": weights, "model": run.model.name, "task": run.task.name, "dataset": name,
                         "full_test_set": name != "test" or not max_items,
                         "generation": generation if name == "test" else None,
                         "single_trajectory": {k: single[k] for k in ("mode", "exact_acc", "exact_ci95", "cell_acc",
                                                                      "n_items", "mean_iterations")},
                         **report, "config": cfg.to_dict(),
                         "plots": {"equal_compute": "equal_compute.png", "accuracy_vs_residual": "accuracy_vs_residual.png",
                                   "energy_histograms": "energy_histograms.png"}}
        write_figures(reports[name], figures, cfg, folder, f"{run.model.name} on {run.task.name}/{name}")
        write_json(folder / "scaling.json", reports[name])
    return reports


def write_figures(report: Mapping[str, Any], figures: Mapping[str, Any], cfg: ScalingConfig, folder: Path,
                  title: str) -> None:
    fixed = [r for r in report["depth"] if r["depth"].startswith("iters=")]
    shown = cfg.plot_methods or list(dict.fromkeys(r["method"] for r in report["breadth"]))
    plot_equal_compute(fixed, report["breadth"], shown, folder / report["plots"]["equal_compute"], title)
    plot_accuracy_vs_residual(*figures["pooled"], folder / report["plots"]["accuracy_vs_residual"])
    if figures["last"] is not None and figures["last"].energies:
        last = figures["last"]
        plot_energy_histograms({name: v.flatten().tolist() for name, v in last.energies.items()},
                               last.correct.flatten().tolist(), folder / report["plots"]["energy_histograms"])


def external_for(path: str, run, ckpt: str | Path) -> Dataset:
    """An external Sudoku list, refused with a reason when its grids are not the model's size."""
    if run.task.name != "sudoku":
        raise ValueError(f"external sets are Sudoku puzzle lists; {ckpt} is a {run.task.name} checkpoint")
    with open(path) as fh:
        first = next((line.strip() for line in fh if line.strip() and not line.startswith("#")), "")
    side, trained = round(len(first) ** 0.5), run.task.data.get("size", 9)
    if side != trained:
        raise ValueError(f"{path} holds {side}x{side} puzzles but {ckpt} is a {trained}x{trained} model: the external "
                         f"hard sets only make sense for a model trained at their size (e.g. experiment=sudoku_extreme)")
    return external_dataset(path, run)


def run_from_config(args: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Run from the plain eval config (``eval.py action=scale``): its ``scaling`` node and the
    dataset keys it shares with ``action=evaluate``."""
    ckpt = Path(args["ckpt"])
    scaling = from_mapping(ScalingConfig, args.get("scaling") or {}, "scaling")
    out_dir = args.get("out_dir") or ckpt.parent.parent / "scaling"
    return run_scaling(ckpt, out_dir, scaling, args.get("external") or [], args.get("max_items"), args.get("device"),
                       args.get("test_data"), args.get("weights"))


def summary(reports: Mapping[str, Mapping[str, Any]]) -> str:
    """A few lines per dataset: the model's own accuracy, the depth sweep, the largest K's methods."""
    lines = []
    for name, r in reports.items():
        s = r["single_trajectory"]
        lines.append(f"[{name}] n={r['n_items']}  model's own ({s['mode']}): exact {s['exact_acc']:.3f} "
                     f"cell {s['cell_acc']:.3f}")
        for row in r["depth"]:
            lines.append(f"  depth {row['depth']:>24}  fevals {row['fevals']:7.1f}  exact {row['accuracy']:.3f}"
                         f"  cell {row['cell_accuracy']:.3f}")
        k = max(row["k"] for row in r["breadth"])
        for row in (row for row in r["breadth"] if row["k"] == k):
            lines.append(f"  K={k} @ {row['depth']}  {row['method']:>52}  exact {row['accuracy']:.3f}"
                         f"  cell {row['cell_accuracy']:.3f}")
    return "\n".join(lines)
