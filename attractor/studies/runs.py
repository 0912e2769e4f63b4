"""A study's jobs read back from their directories: what each ran, its validation curve, its test scores.

A job is one ``python train.py study=<study>/<arm> ...`` run under ``outputs/study/<study>/``: its
composed config (``.hydra/config.yaml``), ``metrics.json``, the CSV logger's ``logs/metrics.csv`` and,
for a reported seed, ``eval.json`` (the test split, scored once on the checkpoint chosen on
validation). Nothing here trains or evaluates: a report is rebuilt from these files alone.
"""
from __future__ import annotations

import csv
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONVERGED = 0.95  # the converged fraction a solver arm's validation must reach to be judged as an attractor


@dataclass
class Job:
    """One finished job of a study."""

    dir: Path
    arm: str
    lr: float
    init: str
    seed: int
    metrics: dict[str, Any]
    curve: list[dict[str, float]]  # per validation: step, cpu_s (estimated), every val/* figure
    evaluation: dict[str, Any] | None = None  # eval.json, reported seeds only
    f_evals_per_step: float | None = None  # mean forward evaluations of f per training step (solver models)
    config: dict[str, Any] = field(default_factory=dict)

    def best(self) -> dict[str, float]:
        """The validation row of the chosen checkpoint: the largest ``val/score`` (``best.ckpt``)."""
        return max(self.curve, key=lambda row: row["val/score"])

    def converged_at(self, row: dict[str, float]) -> float | None:
        """The converged fraction of a validation row (None: the model has no solver)."""
        return row.get("val/solve/converged_frac")

    def test_row(self, mode: str = "solver") -> dict[str, Any] | None:
        if self.evaluation is None:
            return None
        return next((r for r in self.evaluation["sweep"] if r["mode"] == mode), None)


def _float(value: str) -> float | None:
    return float(value) if value not in ("", None) else None


def read_curve(path: Path, cpu_total: float | None) -> tuple[list[dict[str, float]], float | None]:
    """Validation rows of a CSV log, each with the training CPU seconds spent by its step (logged:
    ``perf/train_cpu_time_s``; from older logs, the run's CPU time spread over steps in proportion
    to their wall time), and the mean forward evaluations of f per logged training step."""
    rows = list(csv.DictReader(open(path)))
    cpu_logged = any(r.get("perf/train_cpu_time_s") for r in rows)
    clock = "perf/train_cpu_time_s" if cpu_logged else "perf/train_time_s"
    train = [(int(r["step"]), float(r[clock])) for r in rows if r.get(clock)]
    wall_total = train[-1][1] if train else None
    iters = [float(r["train/solve/iterations_mean"]) for r in rows if r.get("train/solve/iterations_mean")]
    curve = []
    for r in rows:
        if not r.get("val/score"):
            continue
        step = int(r["step"])
        row = {k: v for k, x in r.items() if k.startswith("val/") and (v := _float(x)) is not None}
        row["step"] = step
        wall = max((t for s, t in train if s <= step), default=0.0)  # the clock at this step
        row["cpu_s"] = wall if cpu_logged else (cpu_total * wall / wall_total if cpu_total and wall_total else None)
        curve.append(row)
    return curve, (statistics.mean(iters) if iters else None)


def arm_of(job_dir: Path, config: dict[str, Any]) -> str:
    """The arm's name within its study (``transformer_4`` of ``internalization/transformer_4``)."""
    arm = config.get("arm")
    if arm is None:  # a job composed before runs recorded their arm: Hydra's record of the study choice
        arm = yaml.safe_load((job_dir / ".hydra" / "hydra.yaml").read_text())["hydra"]["runtime"]["choices"]["study"]
    return arm.split("/", 1)[1]


def read_job(job_dir: Path) -> Job | None:
    """The job in ``job_dir``, or None while it has not finished training."""
    if not (job_dir / "metrics.json").exists():
        return None
    config = yaml.safe_load((job_dir / ".hydra" / "config.yaml").read_text())
    metrics = json.loads((job_dir / "metrics.json").read_text())
    curve, f_evals = read_curve(job_dir / "logs" / "metrics.csv", metrics.get("train_cpu_time_s"))
    metrics.setdefault("train_step_cpu_time_s", metrics.get("train_cpu_time_s"))  # older runs: the process's
    evaluation = json.loads((job_dir / "eval.json").read_text()) if (job_dir / "eval.json").exists() else None
    return Job(dir=job_dir, arm=arm_of(job_dir, config), lr=float(config["optim"]["lr"]),
               init=config["model"].get("init", "gpt2"), seed=int(config["seed"]), metrics=metrics, curve=curve,
               evaluation=evaluation, f_evals_per_step=f_evals, config=config)


def read_study(root: Path) -> list[Job]:
    """Every finished job under a study's sweep directory (``outputs/study/<study>``)."""
    jobs = [read_job(d) for d in sorted(root.iterdir()) if d.is_dir() and (d / ".hydra").is_dir()] if root.is_dir() else []
    return [j for j in jobs if j is not None]
