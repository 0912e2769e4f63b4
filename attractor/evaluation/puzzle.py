"""Evaluate a puzzle checkpoint on the full test set, with the solver-removal / depth sweep.

Writes ``eval.json`` (accuracies with Wilson 95% intervals, per inference mode and per reasoning
depth of the puzzles) and PNGs of accuracy against iterations, overall and per depth bucket. Nothing is capped: every test item is scored unless ``max_items``
is given explicitly, and the JSON records how many were.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from attractor.config import ConfigError
from attractor.evaluation.checkpoint import load_checkpoint
from attractor.evaluation.depth import by_depth, iterations_vs_depth, plot_sweep_by_depth
from attractor.stats import wilson_interval
from attractor.io import write_json
from attractor.plotting import save_figure
from attractor.solvers.health import HealthTally
from attractor.tasks.harness import build_datamodule
from attractor.tasks.puzzle import PUZZLES, grid_metrics, segment_outputs

DEPTHS = (1, 2, 4, 8, 16, 32)


def sweep_modes(model_name: str) -> list[str]:
    """The attractor and trm_deq: solver removed, fixed solver budgets, adaptive. Looped: loop counts.
    TRM: no cycle, cycle counts per segment, its own. Transformer: itself."""
    depths = [f"iters={d}" for d in DEPTHS]
    full = ["none", *depths, "solver"]
    return {"attractor": full, "trm_deq": full, "trm": full, "looped": [*depths, "solver"]}.get(model_name, ["solver"])


@torch.no_grad()
def score(model: torch.nn.Module, spec, dataset: Dataset, mode: str, batch_size: int, device: str,
          segments: int = 1) -> dict[str, Any]:
    """Exact and cell accuracy (with Wilson intervals) and mean solver statistics over a dataset,
    reading the last of ``segments`` carried-state segments (iterations summed over them).

    Also the exact accuracy after each segment count (``by_segment``), for models with a Q-head
    the accuracy when each puzzle halts at its first segment with a positive Q-logit (else the last)
    (``halted``, with the mean segments used), and the exact accuracy (also after each segment count)
    and iterations per reasoning depth of the puzzles (``by_depth``) with the Spearman correlation of
    iterations and depth (``iterations_vs_depth``, None for a fixed amount of compute), the solve
    health over every solve (``solve``) and each depth's converged fraction (its last segment's solve);
    with a Q-head,
    the same for the halted answers and the segments used (``halted["by_depth"]``,
    ``halted["segments_vs_depth"]``)."""
    solved = cells_right = cells_scored = n = 0
    iterations, residuals, depths, right_items, cell_items, converged = [], [], [], [], [], []
    health = HealthTally()
    by_segment = [0] * segments
    halted_right, halted_segments = [], []  # per item, models with a Q-head only
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        inputs, labels = batch["inputs"].to(device), batch["labels"].to(device)
        outputs = segment_outputs(model, inputs, segments, mode)
        out = outputs[-1]
        m = grid_metrics(spec, out.logits, inputs, labels)
        right = [m["solved"] if o is out else grid_metrics(spec, o.logits, inputs, labels)["solved"] for o in outputs]
        for s, r in enumerate(right):
            by_segment[s] += int(r.sum())
        if "q_halt" in out.stats:
            q = torch.stack([o.stats["q_halt"] for o in outputs], dim=1) > 0
            q[:, -1] = True
            first = q.float().argmax(dim=1)
            halted_right.append(torch.stack(right, dim=1).gather(1, first[:, None])[:, 0].cpu())
            halted_segments.append((first + 1).float().cpu())
        solved += int(m["solved"].sum())
        right_items.append(torch.stack(right, dim=1).cpu())  # (B, segments)
        depths.append(spec.depth(inputs.cpu().numpy() - 1))  # tokens are codes + 1
        cell_items.append(torch.stack([m["cells_right"], m["cells_scored"]], dim=1).cpu())
        cells_right += int(m["cells_right"].sum())
        cells_scored += int(m["cells_scored"].sum())
        n += inputs.shape[0]
        iterations.append(sum(o.stats.get("iterations", torch.zeros(inputs.shape[0], device=device)).float().cpu()
                              for o in outputs))
        if "rel_residual" in out.stats:
            residuals.append(out.stats["rel_residual"].float().cpu())
        for o in outputs:
            health.add(o.solve)
        if out.solve is not None:
            converged.append(out.stats["converged"].cpu())
    item_iterations, item_depths = torch.cat(iterations).numpy(), np.concatenate(depths)
    item_converged = torch.cat(converged).numpy() if converged else None
    halted = None
    if halted_right:
        k, used = int(torch.cat(halted_right).sum()), torch.cat(halted_segments).numpy()
        halted = {"exact_acc": k / n, "exact_ci95": list(wilson_interval(k, n)), "mean_segments": float(used.mean()),
                  "by_depth": by_depth(item_depths, torch.cat(halted_right).numpy(), used),  # mean_iterations: segments
                  "segments_vs_depth": iterations_vs_depth(item_depths, used)}
    return {
        "mode": mode, "segments": segments, "n_items": n,
        "exact_acc": solved / n, "exact_ci95": list(wilson_interval(solved, n)),
        "cell_acc": cells_right / max(cells_scored, 1),
        "cell_ci95": list(wilson_interval(cells_right, cells_scored)) if cells_scored else [0.0, 0.0],
        "mean_iterations": float(item_iterations.mean()),
        "mean_rel_residual": torch.cat(residuals).mean().item() if residuals else None,
        "solve": health.summary(),  # every segment's solves (attractor.solvers.health); None: no solve ran
        "by_segment": [{"segments": s + 1, "exact_acc": k / n, "exact_ci95": list(wilson_interval(k, n))}
                       for s, k in enumerate(by_segment)],
        "halted": halted,
        "by_depth": by_depth(item_depths, torch.cat(right_items).numpy(), item_iterations, torch.cat(cell_items).numpy(),
                             item_converged),
        "iterations_vs_depth": iterations_vs_depth(item_depths, item_iterations),
    }


def puzzle_test_set(run, test_data: Mapping[str, Any] | None = None, max_items: int | None = None,
                    ) -> tuple[Dataset, dict[str, Any]]:
    """The run's generated test set and how it was generated, or, with ``test_data``, the test set of
    the same generator with those ``task.data`` fields changed (e.g. ``{blanks: null}``: hard puzzles
    for a model trained on easy ones). Such a set is generated in memory unless ``test_data`` names
    its own ``data_dir``, so it never collides with the training cache."""
    if test_data:
        unknown = sorted(set(test_data) - set(run.task.data))
        if unknown:
            raise ConfigError("test_data", f"unknown fields {unknown}; valid: {sorted(run.task.data)}")
        data = {**run.task.data, "data_dir": None, **test_data}
        run = dataclasses.replace(run, task=dataclasses.replace(run.task, data=data))
    try:
        dm = build_datamodule(run)
    except ValueError as err:
        raise ConfigError("test_data", f"{test_data} does not fit the model: {err}") from None
    dm.setup("test")
    test = dm.test_dataloader().dataset
    if max_items:
        test = Subset(test, range(min(max_items, len(test))))
    return test, dm.generation_params()


def evaluate_checkpoint(ckpt: str | os.PathLike, out_dir: str | os.PathLike, modes: list[str] | None = None,
                        external: list[str] | None = None, batch_size: int | None = None,
                        max_items: int | None = None, device: str | None = None,
                        expect_model: str | None = None, test_data: Mapping[str, Any] | None = None,
                        weights: str | None = None, segments: int | None = None,
                        solver: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Score a checkpoint on its task's full test set (or the one ``test_data`` describes) in every
    mode; write eval.json and the plot. ``weights``: 'ema' or 'raw' (default: the EMA when kept);
    ``segments``: deep-supervision segments per puzzle (default: as many as the run trained with);
    ``solver``: solver fields changed for inference (``load_checkpoint``), recorded in eval.json."""
    solver = dict(solver or {})
    run, model, weights = load_checkpoint(ckpt, weights, expect_model, solver)
    if run.task.name not in PUZZLES:
        raise ValueError(f"{ckpt} is a {run.task.name!r} checkpoint; this evaluator scores puzzles")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    spec = PUZZLES[run.task.name]
    test, generation = puzzle_test_set(run, test_data, max_items)
    batch_size = batch_size or run.task.eval_batch_size
    modes = modes or sweep_modes(run.model.name)
    segments = segments or run.train.supervision_steps
    sweep = [score(model, spec, test, mode, batch_size, device, segments) for mode in modes]
    default = next(s for s in sweep if s["mode"] == "solver")
    report = {
        "checkpoint": str(ckpt), "weights": weights, "segments": segments, "model": run.model.name,
        "task": run.task.name, "solver_overrides": solver,
        "parameters": sum(p.numel() for p in model.parameters()),
        "n_items": default["n_items"], "full_test_set": not max_items, "generation": generation,
        **{k: default[k] for k in ("exact_acc", "exact_ci95", "cell_acc", "cell_ci95", "mean_iterations", "solve")},
        "sweep": sweep,
        "external": {Path(p).stem: score(model, spec, external_dataset(p, run), "solver", batch_size, device, segments)
                     for p in external or []},
        "plot": "accuracy_vs_iterations.png", "depth_plot": "accuracy_vs_iterations_by_depth.png",
    }
    out_dir = Path(out_dir)
    plot_sweep(sweep, out_dir / report["plot"], f"{run.model.name} on {run.task.name}")
    plot_sweep_by_depth(sweep, out_dir / report["depth_plot"], f"{run.model.name} on {run.task.name}, by depth")
    write_json(out_dir / "eval.json", report)
    return report


def external_dataset(path: str, run) -> Dataset:
    """An external hard Sudoku list (test only), at the size the model was trained on."""
    if run.task.name != "sudoku":
        raise ValueError(f"external sets are Sudoku puzzle lists; this checkpoint is for {run.task.name}")
    from attractor.data.sudoku import puzzle_list_dataset

    return puzzle_list_dataset(path, run.task.data.get("size", 9))


def plot_sweep(sweep: list[dict], path: Path, title: str) -> None:
    """Exact accuracy (with its interval) against mean iterations, one point per inference mode."""
    with save_figure(path) as (fig, ax):
        xs = [s["mean_iterations"] for s in sweep]
        ys = [s["exact_acc"] for s in sweep]
        # max(0, .): Wilson bounds can sit a rounding error inside an accuracy of exactly 0 or 1.
        err = [[max(0.0, y - s["exact_ci95"][0]) for y, s in zip(ys, sweep)],
               [max(0.0, s["exact_ci95"][1] - y) for y, s in zip(ys, sweep)]]
        ax.errorbar(xs, ys, yerr=err, fmt="o-", capsize=3)
        for x, y, s in zip(xs, ys, sweep):
            ax.annotate(s["mode"], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set(xlabel="mean iterations", ylabel="exact accuracy", title=title)
        ax.set_xscale("symlog", linthresh=1)
