"""From a validated run to a Lightning fit: data, module, trainer, logger, checkpoints, resume.

Entry points (``train.py``, tests) call :func:`train`; everything it builds is importable on its own.
"""
from __future__ import annotations

import csv
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint

from attractor.io import write_json
from attractor.models import SOLVER_MODELS
from attractor.nn import Block
from attractor.tasks.checkpoint_io import AtomicCheckpointIO
from attractor.tasks.config import Run, TrainerConfig
from attractor.tasks.console import StatusLine, interactive, log_each_line_once
from attractor.tasks.ema import EMA
from attractor.tasks.puzzle import PUZZLES, PuzzleTask
from attractor.tasks.solve_health import SolveDivergedError, SolveHealth

CHECKPOINTS = "checkpoints"


def datamodule_class(task_name: str) -> type:
    if task_name in PUZZLES:
        return PUZZLES[task_name].datamodule
    from attractor.tasks.lm import LMTask

    return LMTask.datamodule


def build_datamodule(run: Run) -> L.LightningDataModule:
    dm = datamodule_class(run.task.name)(batch_size=run.task.batch_size, **run.task.data)
    dm.eval_batch_size, dm.val_max_items = run.task.eval_batch_size, run.train.val_max_items
    if dm.vocab_size != run.task.vocab_size or dm.seq_len != run.task.seq_len:
        raise ValueError(f"task.vocab_size/seq_len = {run.task.vocab_size}/{run.task.seq_len}, but the data "
                         f"has {dm.vocab_size}/{dm.seq_len}: fix the task config")
    return dm


def build_module(run: Run) -> L.LightningModule:
    if run.task.name in PUZZLES:
        cls = PuzzleTask
    else:
        from attractor.tasks.lm import LMTask

        cls = LMTask
    if run.trainer.strategy == "fsdp":
        cls = type(f"Sharded{cls.__name__}", (cls,), {"configure_model": shard_model})
    return cls(run)


def shard_model(module: L.LightningModule) -> None:
    """``configure_model`` of ``trainer.strategy=fsdp``: FSDP2 (``fully_shard``) on every Transformer
    block, then on the rest, over all processes. Only sharded runs get the hook: Lightning's EMA
    callback warns about any module that has one."""
    from torch.distributed.fsdp import fully_shard

    mesh = module.device_mesh["data_parallel"]
    for block in module.model.modules():
        if isinstance(block, Block):
            fully_shard(block, mesh=mesh)
    fully_shard(module.model, mesh=mesh)


def build_strategy(trainer: TrainerConfig):
    """``fsdp``: Lightning's ModelParallelStrategy as pure FSDP2 over every process (weights,
    gradients and optimizer state sharded per block; one full checkpoint file assembled on rank 0,
    so evaluation loads it on one device). FSDP2, not Lightning's FSDPStrategy: the older FSDP
    refuses CPUs (torch 2.13: "FSDP needs a non-CPU accelerator device"), FSDP2 runs on gloo, so the
    sharded path is tested here. Any other name goes to Lightning as it is."""
    if trainer.strategy != "fsdp":
        return trainer.strategy
    from lightning.pytorch.strategies import ModelParallelStrategy

    return ModelParallelStrategy(data_parallel_size=trainer.devices * trainer.num_nodes, tensor_parallel_size=1,
                                 save_distributed_checkpoint=False)


def build_logger(run: Run, run_dir: Path):
    if run.logger.kind == "none":
        return False
    if run.logger.kind == "csv":
        from lightning.pytorch.loggers import CSVLogger

        return CSVLogger(save_dir=str(run_dir), name="logs", version="")
    # wandb: explicit mode so it never waits at a login prompt; offline unless asked otherwise.
    os.environ.setdefault("WANDB_SILENT", "true")
    from lightning.pytorch.loggers import WandbLogger

    return WandbLogger(project=run.logger.project, name=run.name, save_dir=str(run_dir), mode=run.logger.mode)


class CPUTimeBudget(Callback):
    """Stop training once this process has used ``seconds`` of CPU time.

    Wall-clock budgets are unfair on a shared machine (a run slowed by a neighbour gets fewer
    steps); process CPU time is what the run itself consumed.
    """

    def __init__(self, seconds: float):
        self.seconds, self.start = seconds, 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = time.process_time()

    def on_train_batch_end(self, trainer: L.Trainer, *args) -> None:
        if time.process_time() - self.start > self.seconds:
            trainer.should_stop = True


def build_trainer(run: Run, run_dir: Path, callbacks: Sequence[Callback] = ()) -> L.Trainer:
    """The Lightning trainer of a run: checkpoints (last, best on ``val/score``), EMA, budgets, the
    learning rate logged at every step (with a logger), the solve-health callback (models with a
    solver), and any extra ``callbacks``."""
    ckpt_dir = run_dir / CHECKPOINTS
    last = ModelCheckpoint(dirpath=ckpt_dir, filename="last", every_n_train_steps=run.train.checkpoint_every_steps,
                           save_top_k=1, save_on_train_epoch_end=True, enable_version_counter=False)
    best = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val/score", mode="max", save_top_k=1,
                           enable_version_counter=False)
    callbacks = [*callbacks, last, best]
    if run.optim.ema_decay > 0:
        callbacks.append(EMA(run.optim.ema_decay))
    if run.train.max_cpu_time_s:
        callbacks.append(CPUTimeBudget(run.train.max_cpu_time_s))
    logger = build_logger(run, run_dir)
    if logger:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    if run.model.name in SOLVER_MODELS and run.train.solve_health.enabled:
        callbacks.append(SolveHealth(run.train.solve_health))
    bar = interactive()  # off a terminal (a log file), status lines instead of a redrawn bar
    if not bar:
        callbacks.append(StatusLine(run.train.log_every_steps))
    t = run.trainer
    return L.Trainer(
        accelerator=t.accelerator, devices=t.devices, strategy=build_strategy(t), num_nodes=t.num_nodes,
        precision=t.precision, deterministic=t.deterministic,
        max_steps=run.train.max_steps, max_epochs=-1,
        max_time={"seconds": run.train.max_time_s} if run.train.max_time_s else None,
        val_check_interval=min(run.train.val_every_steps, run.train.max_steps), check_val_every_n_epoch=None,
        log_every_n_steps=run.train.log_every_steps, gradient_clip_val=run.optim.grad_clip or None,
        callbacks=callbacks,
        logger=logger, default_root_dir=str(run_dir),
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False, num_sanity_val_steps=0, enable_model_summary=False, enable_progress_bar=bar,
    )


RESTART_COUNTS = ("SLURM_RESTART_COUNT", "TORCHELASTIC_RESTART_COUNT")


def is_restart() -> bool:
    """Whether this process restarts a scheduled job that already ran: SLURM requeued it (after
    preemption, or submitit's or Lightning's requeue at the time limit; the job keeps its id, so its
    output directory) or torchrun restarted its failed workers."""
    return any(int(os.environ.get(key) or 0) > 0 for key in RESTART_COUNTS)


def keep_csv_rows(logger, before_step: int) -> None:
    """Lightning's CSV writer deletes ``metrics.csv`` when a run resumes into its directory; keep the
    rows of the steps the checkpoint holds, so a resumed run's log is its whole curve."""
    from lightning.pytorch.loggers import CSVLogger

    if not isinstance(logger, CSVLogger) or not (path := Path(logger.log_dir) / "metrics.csv").exists():
        return
    with open(path, newline="") as fh:
        rows = [{k: v for k, v in r.items() if v != ""} for r in csv.DictReader(fh) if int(r["step"]) < before_step]
    writer = logger.experiment  # deletes the file; its first save writes these rows back, then the new ones
    writer.metrics[:0] = rows
    writer.metrics_keys = sorted(set(writer.metrics_keys).union(*rows))


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest of ``last.ckpt`` and the ``hpc_ckpt_N.ckpt`` that Lightning's SLURM auto-requeue
    saves into the run directory when the requeue signal arrives (None: neither exists)."""
    found = [p for p in (run_dir / CHECKPOINTS / "last.ckpt", *run_dir.glob("hpc_ckpt_*.ckpt")) if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime_ns, default=None)


def resolve_ckpt_path(run: Run, run_dir: Path) -> str | None:
    """``null``: a fresh run (refused if this run directory already holds checkpoints), or, in a
    requeued or restarted job (:func:`is_restart`), its latest checkpoint; ``last``: this run's
    latest checkpoint; ``auto``: its latest checkpoint if it has one, else a fresh run (a study's
    jobs, relaunched); anything else: that file."""
    latest = latest_checkpoint(run_dir)
    if run.ckpt_path == "auto":
        return None if latest is None else str(latest)
    if run.ckpt_path is None:
        if latest is not None and not is_restart():
            raise FileExistsError(f"{run_dir} already holds checkpoints: pass ckpt_path=last to resume, "
                                  f"or choose another name=...")
        return None if latest is None else str(latest)
    path = (latest or run_dir / CHECKPOINTS / "last.ckpt") if run.ckpt_path == "last" else Path(run.ckpt_path)
    if not path.exists():
        raise FileNotFoundError(f"ckpt_path={run.ckpt_path}: no checkpoint at {path}")
    return str(path)


def compile_blocks(model: torch.nn.Module) -> None:
    """``torch.compile`` every Transformer block in place.

    The blocks are where the time goes; the solver loop around them has data-dependent stops that
    break graphs. Compiling in place (``Module.compile``) keeps the parameter names, so checkpoints
    of compiled runs load into uncompiled models and the EMA matches every key. Donated buffers are
    turned off (process-wide): the implicit and neumann backward modes differentiate the map's graph
    more than once (``retain_graph``), which a backward compiled with donated buffers refuses.
    """
    torch._functorch.config.donated_buffer = False
    for module in model.modules():
        if isinstance(module, Block):
            module.compile()


@dataclass
class TrainResult:
    model: torch.nn.Module  # the trained model, on this rank
    run_dir: Path
    last_checkpoint: Path
    metrics: dict


def train(run: Run, run_dir: str | os.PathLike, callbacks: Sequence[Callback] = ()) -> TrainResult:
    """Fit the run's model on its task, writing checkpoints and ``metrics.json`` under ``run_dir``;
    ``callbacks``: extra Lightning callbacks (probes, fault injection)."""
    run_dir = Path(run_dir)
    ckpt_path = resolve_ckpt_path(run, run_dir)
    L.seed_everything(run.seed, workers=True, verbose=False)
    dm, module = build_datamodule(run), build_module(run)
    if run.train.compile:
        compile_blocks(module.model)
    log_each_line_once()
    trainer = build_trainer(run, run_dir, callbacks)
    if ckpt_path is not None:
        keep_csv_rows(trainer.logger, torch.load(ckpt_path, map_location="cpu", weights_only=True)["global_step"])
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start, cpu_start = time.perf_counter(), time.process_time()
    health = next((c for c in trainer.callbacks if isinstance(c, SolveHealth)), None)
    try:
        trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    except SolveDivergedError:
        if trainer.is_global_zero:  # the events that led to the stop, for the record
            write_json(run_dir / "metrics.json", {"name": run.name, "steps": trainer.global_step,
                                                  "solve_health": health.summary()})
        raise
    elapsed = time.perf_counter() - start
    # the final state (optimizer and loops too, for resuming), whatever the interval
    trainer.save_checkpoint(run_dir / CHECKPOINTS / "last.ckpt", weights_only=False)
    metrics = {
        "name": run.name, "model": run.model.name, "task": run.task.name, "seed": run.seed,
        "parameters": sum(p.numel() for p in module.model.parameters()),
        "steps": trainer.global_step, "skipped_steps": module.skipped_steps, "train_time_s": elapsed, "train_cpu_time_s": time.process_time() - cpu_start,
        "train_step_time_s": module._train_time_s, "train_step_cpu_time_s": module._train_cpu_s,  # steps only, every process of the run
        "resumed_from": ckpt_path,
        "peak_memory_bytes": torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None,
        "final": {k: float(v) for k, v in trainer.callback_metrics.items()},
    }
    if health is not None:  # the last validation's solve health, and every warning and recovery
        metrics["solve_health"] = {"val": {k.removeprefix("val/solve/"): v for k, v in metrics["final"].items()
                                           if k.startswith("val/solve/")}, **health.summary()}
    if trainer.is_global_zero:
        write_json(run_dir / "metrics.json", metrics)
    return TrainResult(module.model, run_dir, run_dir / CHECKPOINTS / "last.ckpt", metrics)
