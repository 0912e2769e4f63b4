"""Every preset, shrunk by ``debug=tiny``, through every training path a real run takes:
precision {32-true, bf16-mixed} x {eager, compiled} x {1 rank, 2 ranks (DDP; gloo on CPU)}.

Per cell: steps/s of the fit loop, first and last training loss, whether validation scored the
averaged weights (EMA presets), whether the last checkpoint gives back bit-identical logits in every
inference mode, and whether a run stopped at step 4 and resumed with ``ckpt_path=last`` ends with the
same weights (raw and averaged) as an uninterrupted one. Each cell runs in its own process (DDP
relaunches it for rank 1).

    python -m benchmarks.trust_matrix --json docs/results/trust_matrix_cpu.json [--presets sudoku_smoke ...]
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/X.py`: put the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import itertools
import json
import os
import subprocess
import tempfile
import time

import torch
from lightning.pytorch.callbacks import Callback

from attractor.compose import compose
from attractor.io import write_json

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted(p.stem for p in (ROOT / "configs" / "experiment").glob("*.yaml"))


class StopAtStep(Callback):
    """Ends the fit after ``step`` optimizer steps, as an interruption would (the schedule is kept)."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step >= self.step:
            trainer.should_stop = True


def cell_overrides(preset: str, precision: str, compiled: bool, ranks: int, data_dir: Path) -> list[str]:
    ddp = ["trainer.strategy=ddp", f"trainer.devices={ranks}"] + (
        ["trainer.accelerator=cpu"] if not torch.cuda.is_available() else [])
    return [f"experiment={preset}", "debug=tiny", f"debug.data_dir={data_dir / preset}", "logger=none",
            "eval_after_fit=false", f"trainer.precision={precision}", f"train.compile={str(compiled).lower()}",
            *(ddp if ranks > 1 else ["trainer.devices=1"])]


def run_cell(overrides: list[str], work: Path) -> dict:
    """Straight run with probes, then stop-at-4 + resume; on rank 0 the cell's figures."""
    from attractor.evaluation.checkpoint import load_checkpoint
    from attractor.tasks.config import validate_run
    from attractor.tasks.harness import datamodule_class, train
    from benchmarks.probes import probe_training, same_weights

    cfg = compose(overrides)
    run = validate_run(cfg, datamodule_class(cfg.task.name))
    report = probe_training(run, work / "straight")
    train(run, work / "resumed", [StopAtStep(run.train.max_steps // 2)])
    resumed_run = validate_run(compose(overrides + ["ckpt_path=last"]), datamodule_class(cfg.task.name))
    resumed = train(resumed_run, work / "resumed")
    kinds = ["raw"] + (["ema"] if run.optim.ema_decay > 0 else [])
    report["resume_equal"] = all(
        same_weights(load_checkpoint(report["last_checkpoint"], k).model.state_dict(),
                     load_checkpoint(resumed.last_checkpoint, k).model.state_dict()) for k in kinds)
    report["resumed_steps"] = resumed.metrics["steps"]
    return report


def launch(preset: str, precision: str, compiled: bool, ranks: int, data_dir: Path, timeout: int) -> dict:
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "cell.json"
        cmd = [sys.executable, "-m", "benchmarks.trust_matrix", "--cell", str(out), "--work", work,
               "--", *cell_overrides(preset, precision, compiled, ranks, data_dir)]
        env = {**os.environ, "WANDB_MODE": "disabled"}
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout} s"}
        cell = json.loads(out.read_text()) if out.exists() else {"error": proc.stderr.strip().splitlines()[-1:]}
        cell["cell_seconds"] = time.perf_counter() - start
        return cell


def table(rows: list[dict]) -> str:
    head = ("| preset | precision | compiled | ranks | steps/s | first loss | last loss | averaged weights used "
            "| round-trip equal | resume equal |\n| --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- | --- |")
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['preset']} | {r['precision']} | {r['compiled']} | {r['ranks']} | error: "
                         f"{r['error']} | | | | | |")
            continue
        avg = "n/a (no EMA)" if r["averaged_weights_used"] is None else r["averaged_weights_used"]
        lines.append(f"| {r['preset']} | {r['precision']} | {r['compiled']} | {r['ranks']} | {r['steps_per_s']:.2f} "
                     f"| {r['first_loss']:.3f} | {r['last_loss']:.3f} | {avg} | {r['roundtrip_equal']} "
                     f"| {r['resume_equal']} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", default="trust_matrix.json")
    p.add_argument("--presets", nargs="+", default=PRESETS)
    p.add_argument("--precisions", nargs="+", default=["32-true", "bf16-mixed"])
    p.add_argument("--compiled", nargs="+", type=int, default=[0, 1])
    p.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    p.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    p.add_argument("--budget", type=float, default=0, help="start no cell after this many seconds (0: no limit)")
    p.add_argument("--cell", help=argparse.SUPPRESS)  # internal: run one cell, write its JSON here
    p.add_argument("--work", help=argparse.SUPPRESS)
    p.add_argument("overrides", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.cell:
        report = run_cell(args.overrides, Path(args.work))
        if not torch.distributed.is_initialized() or torch.distributed.get_rank() == 0:
            write_json(args.cell, report)
        return
    rows, start = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as data_dir:
        for preset, precision, compiled, ranks in itertools.product(args.presets, args.precisions, args.compiled,
                                                                    args.ranks):
            row = {"preset": preset, "precision": precision, "compiled": bool(compiled), "ranks": ranks}
            if args.budget and time.perf_counter() - start > args.budget:
                row["error"] = "not run: --budget spent"
            else:
                row |= launch(preset, precision, bool(compiled), ranks, Path(data_dir), args.timeout)
            rows.append(row)
            print(table([row]).splitlines()[-1], flush=True)
            write_json(args.json, {"machine": os.uname().nodename, "torch": torch.__version__,
                                   "cuda": torch.cuda.is_available(), "rows": rows})
    print(table(rows))


if __name__ == "__main__":
    main()
