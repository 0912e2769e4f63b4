"""Score one checkpoint on lm-evaluation-harness tasks in several inference modes (``eval.py action=lm_eval``).

The model is loaded once and served in each mode in turn; the harness's results for every mode go to
``lm_eval.json`` (beside ``eval.json``), with a table over modes: accuracies with Wilson 95%
intervals (from the harness's accuracy and its number of scored documents), other metrics with the
harness's standard error, and the wall time of each mode.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from attractor.evaluation.lm_harness import AttractorLM
from attractor.evaluation.puzzle import sweep_modes
from attractor.io import write_json
from attractor.stats import wilson_interval

PROPORTIONS = ("acc", "acc_norm", "exact_match")  # per-document 0/1 metrics: a Wilson interval applies
BOOTSTRAP_ITERS = 1000  # the harness's stderr of perplexity-like metrics (its default, 100,000, takes minutes)
KEPT = ("results", "n-samples", "versions", "higher_is_better", "configs", "config")


def run_harness(pretrained: str | os.PathLike, tasks: Sequence[str], out_dir: str | os.PathLike,
                modes: Sequence[str] | None = None, task_paths: Sequence[str] = (), limit: int | None = None,
                num_fewshot: int | None = None, batch_size: int | None = None, device: str | None = None,
                weights: str | None = None, expect_model: str | None = None) -> dict[str, Any]:
    """Evaluate ``tasks`` (harness names; ``task_paths``: folders of our own task YAMLs) in every mode
    (default: the model's sweep, as ``eval.py``), write ``out_dir/lm_eval.json`` and return it."""
    from lm_eval import simple_evaluate
    from lm_eval.utils import handle_non_serializable

    if not tasks:
        raise ValueError("tasks: name at least one harness task, e.g. tasks=[lambada_openai]")
    for folder in task_paths:
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"task_paths: {folder} is not a folder of task YAMLs")
    lm = AttractorLM(str(pretrained), **{k: v for k, v in {"batch_size": batch_size, "device": device,
                                                          "weights": weights}.items() if v is not None})
    if expect_model is not None and lm.info["model"] != expect_model:
        raise ValueError(f"expect_model: {pretrained} holds a {lm.info['model']!r} model, not {expect_model!r}")
    modes = list(modes or sweep_modes(lm.info["model"]))
    served = [lm.in_mode(mode) for mode in modes]  # every mode checked before the first is scored
    manager = task_manager(tasks, task_paths)
    runs, seconds = {}, {}
    for mode, model in zip(modes, served):
        start = time.perf_counter()
        results = simple_evaluate(model, tasks=list(tasks), task_manager=manager, limit=limit,
                                  num_fewshot=num_fewshot, log_samples=False, bootstrap_iters=BOOTSTRAP_ITERS)
        seconds[mode] = time.perf_counter() - start
        runs[mode] = json.loads(json.dumps({k: results[k] for k in KEPT if k in results},
                                           default=handle_non_serializable))
    report = {**lm.info, "tasks": list(tasks), "task_paths": [str(p) for p in task_paths], "limit": limit,
              "num_fewshot": num_fewshot, "batch_size": lm.batch_size, "device": str(lm.device),
              "modes": modes, "seconds": seconds, "table": summary_rows(runs), "runs": runs}
    write_json(Path(out_dir) / "lm_eval.json", report)
    return report


def task_manager(tasks: Sequence[str], task_paths: Sequence[str]):
    """The harness's task index over ``task_paths``, with its built-in tasks only when a task is not
    among ours (indexing the built-ins takes half a minute on a busy CPU)."""
    from lm_eval.tasks import TaskManager

    paths = [str(p) for p in task_paths]
    if paths:
        local = TaskManager(include_path=paths, include_defaults=False)
        if set(tasks) <= set(local.all_tasks):
            return local
    return TaskManager(include_path=paths or None)


def summary_rows(runs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (mode, task, metric): the value, the harness's stderr, the documents scored and,
    for accuracies, the Wilson 95% interval."""
    rows = []
    for mode, run in runs.items():
        for task, metrics in run["results"].items():
            n = run["n-samples"][task]["effective"]
            for key, value in metrics.items():
                metric, comma, filtered = key.partition(",")  # metrics are "name,filter"; sample_len is a count
                if not comma or metric.endswith("_stderr") or not isinstance(value, (int, float)):
                    continue
                stderr = metrics.get(f"{metric}_stderr,{filtered}")
                rows.append({"mode": mode, "task": task, "metric": metric, "value": value, "n": n,
                             "stderr": stderr if isinstance(stderr, (int, float)) else None,
                             "ci95": list(wilson_interval(round(value * n), n)) if metric in PROPORTIONS else None})
    return rows


def format_table(report: dict[str, Any]) -> str:
    """Markdown: a row per mode, a column per task metric, and each mode's wall time."""
    columns = list(dict.fromkeys((r["task"], r["metric"]) for r in report["table"]))
    cells = {(r["mode"], r["task"], r["metric"]): r for r in report["table"]}
    lines = ["| mode | " + " | ".join(f"{task} {metric}" for task, metric in columns) + " | seconds |",
             "| --- |" + " ---: |" * (len(columns) + 1)]
    for mode in report["modes"]:
        values = [_cell(cells.get((mode, *column))) for column in columns]
        lines.append(f"| {mode} | " + " | ".join(values) + f" | {report['seconds'][mode]:.1f} |")
    return "\n".join(lines)


def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return ""
    if row["ci95"] is not None:
        return f"{row['value']:.3f} [{row['ci95'][0]:.3f}, {row['ci95'][1]:.3f}]"
    return f"{row['value']:.4g}" + (f" ± {row['stderr']:.2g}" if row["stderr"] is not None else "")
