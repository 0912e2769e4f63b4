"""The run config: every group validated into a dataclass before anything is built.

A composed Hydra config has the groups task, model, solver, optim, trainer, logger, plus ``train``
and a few top-level keys. :func:`validate_run` checks all of it and names the first bad key.
"""
from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from attractor.config import ConfigError, capped, from_mapping, require, to_plain
from attractor.models import MODELS, SOLVER_MODELS, Recursive, model_config
from attractor.models.config import ModelConfig, require_inference_mode
from attractor.solvers import SolverConfig


@dataclass
class TaskConfig:
    name: Literal["sudoku", "maze", "lm"] = "sudoku"
    vocab_size: int = 0  # tokens the data uses (PAD included); the model reads it
    seq_len: int = 0  # tokens per item
    causal: bool = False  # next-token task (lm) or whole-grid task (puzzles)
    batch_size: int = 64  # global training batch (split across devices)
    eval_batch_size: int = 256
    data: dict = field(default_factory=dict)  # keyword arguments of the task's DataModule

    def __post_init__(self) -> None:
        require(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        require(self.eval_batch_size >= 1, "eval_batch_size", f"must be >= 1, got {self.eval_batch_size}")


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.1  # on matrices only; norms, gates and embeddings are not decayed
    beta1: float = 0.9
    beta2: float = 0.95
    warmup_steps: int = 50  # linear warm-up from 0
    schedule: Literal["cosine", "constant"] = "cosine"  # after warm-up
    min_lr_ratio: float = 0.1  # cosine floor as a fraction of lr
    grad_clip: float = 1.0  # global gradient-norm clip (0 = off)
    ema_decay: float = 0.0  # EMA of weights used for evaluation and checkpoints (0 = off)

    def __post_init__(self) -> None:
        require(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        require(self.weight_decay >= 0, "weight_decay", f"must be >= 0, got {self.weight_decay}")
        require(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "beta1", "betas must be in [0, 1)")
        require(self.warmup_steps >= 0, "warmup_steps", f"must be >= 0, got {self.warmup_steps}")
        require(0 <= self.min_lr_ratio <= 1, "min_lr_ratio", f"must be in [0, 1], got {self.min_lr_ratio}")
        require(self.grad_clip >= 0, "grad_clip", f"must be >= 0, got {self.grad_clip}")
        require(0 <= self.ema_decay < 1, "ema_decay", f"must be in [0, 1), got {self.ema_decay}")


@dataclass
class SolveHealthConfig:
    """The solve-health callback (``attractor.tasks.solve_health``), for models with a solver."""

    enabled: bool = True
    warn_below: float = 0.9  # warn once when the validation converged fraction falls under this
    diverged_steps: int = 10  # consecutive steps with diverged solver rows that count as a divergence
    lr_factor: float = 0.5  # learning-rate multiplier at each recovery from divergence
    max_recoveries: int = 3  # recoveries before the run stops with a message

    def __post_init__(self) -> None:
        require(0 <= self.warn_below <= 1, "warn_below", f"must be in [0, 1], got {self.warn_below}")
        require(self.diverged_steps >= 1, "diverged_steps", f"must be >= 1, got {self.diverged_steps}")
        require(0 < self.lr_factor < 1, "lr_factor", f"must be in (0, 1), got {self.lr_factor}")
        require(self.max_recoveries >= 0, "max_recoveries", f"must be >= 0, got {self.max_recoveries}")


@dataclass
class TrainConfig:
    max_steps: int = 400  # optimizer steps
    supervision_steps: int = capped(1, "segments")  # deep supervision: segments per batch (state carried detached); also used in evaluation
    val_every_steps: int = 100  # validation (and best-checkpoint) interval
    checkpoint_every_steps: int = 100  # last-checkpoint interval
    log_every_steps: int = 10
    val_max_items: int = 0  # items of the validation split scored at each validation (0 = all)
    val_modes: list[str] = field(default_factory=list)  # more inference modes scored at each validation, e.g. [none, 'iters=2']: val/<mode>/loss (LMs), val/<mode>/exact_acc (puzzles)
    compile: bool = False  # torch.compile the model
    max_time_s: float = 0.0  # also stop after this much wall time (0 = no limit): equal-time comparisons
    max_cpu_time_s: float = 0.0  # also stop after this much process CPU time: equal compute on a shared machine
    loss: Literal["cross_entropy", "stablemax"] = "cross_entropy"  # puzzles: token loss (stablemax: the TRM recipes')
    act: bool = False  # puzzles: ACT halting on the model's Q-head (trm, trm_deq): Q loss, halted samples stop
    halt_exploration: float = 0.0  # ACT: probability that a sample must run a random minimum of segments (TRM: 0.1)
    q_loss_weight: float = 0.5  # ACT: weight of the Q-head's binary loss against exactness
    solve_health: SolveHealthConfig = field(default_factory=SolveHealthConfig)  # solver models: warn, recover

    def __post_init__(self) -> None:
        require(0 <= self.halt_exploration <= 1, "halt_exploration", f"must be in [0, 1], got {self.halt_exploration}")
        require(self.q_loss_weight >= 0, "q_loss_weight", f"must be >= 0, got {self.q_loss_weight}")
        require(self.max_time_s >= 0, "max_time_s", f"must be >= 0, got {self.max_time_s}")
        require(self.max_cpu_time_s >= 0, "max_cpu_time_s", f"must be >= 0, got {self.max_cpu_time_s}")
        for key in ("max_steps", "supervision_steps", "val_every_steps", "checkpoint_every_steps", "log_every_steps"):
            require(getattr(self, key) >= 1, key, f"must be >= 1, got {getattr(self, key)}")
        require(self.val_max_items >= 0, "val_max_items", f"must be >= 0, got {self.val_max_items}")


@dataclass
class TrainerConfig:
    accelerator: Literal["cpu", "gpu", "cuda", "auto"] = "cpu"
    devices: int = 1
    strategy: str = "auto"  # auto, ddp, ddp_spawn, ... (Lightning's names); fsdp: FSDP2 sharding (harness.build_strategy)
    precision: Literal["32-true", "bf16-mixed", "16-mixed", "64-true"] = "32-true"
    deterministic: bool = False
    num_nodes: int = 1

    def __post_init__(self) -> None:
        require(self.devices >= 1, "devices", f"must be >= 1, got {self.devices}")
        require(self.num_nodes >= 1, "num_nodes", f"must be >= 1, got {self.num_nodes}")


@dataclass
class LoggerConfig:
    kind: Literal["wandb", "csv", "none"] = "wandb"
    project: str = "attractor"
    mode: Literal["offline", "online", "disabled"] = "offline"  # wandb only; never prompts unless online


@dataclass
class Run:
    """A validated run: one typed object per config group."""

    task: TaskConfig
    model: ModelConfig
    solver: SolverConfig | None  # None: the model has no solver (transformer, looped, trm)
    optim: OptimConfig
    train: TrainConfig
    trainer: TrainerConfig
    logger: LoggerConfig
    seed: int
    name: str
    ckpt_path: str | None
    eval_after_fit: bool
    eval_ckpt: Literal["last", "best"]  # the checkpoint the post-fit evaluation scores
    eval_modes: list[str] | None  # its inference modes (None: the model's sweep)
    raw: dict  # the plain config, saved with checkpoints


@dataclass
class DebugConfig:
    """``debug=tiny``: any preset shrunk to seconds on a CPU. Sizes, step counts and data counts
    change; the code path does not (solver, backward mode, EMA, segments, precision, compile,
    strategy). Deep-supervision segments, recursion cycles and solver iterations are capped, not
    removed: two segments and two cycles still carry a state and still cut the gradient before the
    last cycle. A GPU accelerator falls back to the CPU where there is no GPU."""

    max_steps: int = 8
    dim: int = 32
    n_heads: int = 2
    layers: int = 1  # most blocks in each stack (the model fields declared capped(..., "layers"))
    batch_size: int = 8
    eval_batch_size: int = 16
    n_train: int = 32  # puzzles
    n_val: int = 8  # validation items scored (puzzles: generated; language models: the split's first windows)
    n_test: int = 8
    data_dir: str | None = None  # puzzles: cache the shrunk data here (null: generate in memory)
    seq_len: int = 32  # language models
    maze_side: int = 11  # mazes: at most this side (a Sudoku keeps its size: its box shape depends on it)
    lr: float = 3e-3  # so that the loss visibly falls in a few steps
    warmup_steps: int = 2
    segments: int = 2  # most deep-supervision segments (train.supervision_steps)
    cycles: int = 2  # most recursion cycles of each kind (the model fields declared capped(..., "cycles"))
    solver_iters: int = 12  # most solver iterations, forward and backward (the solver fields declared capped)


def cap_counts(node: dict, cls: type, d: DebugConfig) -> None:
    """Lower each count ``cls`` declares ``capped`` (block counts, cycles, iteration budgets,
    segments) to at most its cap in ``d``, in the config ``node`` of a ``cls``."""
    for f in dataclasses.fields(cls):
        if "debug_cap" in f.metadata:
            node[f.name] = min(node.get(f.name, f.default), getattr(d, f.metadata["debug_cap"]))


def apply_debug(raw: dict) -> dict:
    """The run config with its ``debug`` node applied to the other groups (and removed)."""
    node = raw.pop("debug", None)
    if node is None:
        return raw
    d = from_mapping(DebugConfig, node, "debug")
    task, model, train, trainer = (raw.setdefault(k, {}) for k in ("task", "model", "train", "trainer"))
    task.update(batch_size=d.batch_size, eval_batch_size=d.eval_batch_size)
    data = task.setdefault("data", {})
    if task.get("name") == "lm":
        task["seq_len"] = data["seq_len"] = model["max_len"] = d.seq_len
    else:
        data.update(n_train=d.n_train, n_val=d.n_val, n_test=d.n_test, data_dir=d.data_dir)
    if task.get("name") == "maze" and data.get("side", 0) > d.maze_side:
        data["side"], task["seq_len"], model["max_len"] = d.maze_side, d.maze_side ** 2, d.maze_side ** 2
    model.update(dim=d.dim, n_heads=d.n_heads)
    if model.get("name") in MODELS:
        cap_counts(model, MODELS[model["name"]][0], d)
    if raw.get("solver") is not None:
        cap_counts(raw["solver"], SolverConfig, d)
    raw.setdefault("optim", {}).update(lr=d.lr, warmup_steps=d.warmup_steps)
    cap_counts(train, TrainConfig, d)
    half = max(1, d.max_steps // 2)
    train.update(max_steps=d.max_steps, val_every_steps=half, checkpoint_every_steps=half, log_every_steps=1,
                 val_max_items=d.n_val, max_time_s=0, max_cpu_time_s=0)
    if trainer.get("accelerator") in ("gpu", "cuda") and not torch.cuda.is_available():
        trainer["accelerator"] = "cpu"
    return raw


TOP_LEVEL = {"task", "model", "solver", "optim", "train", "trainer", "logger", "seed", "name", "ckpt_path",
             "eval_after_fit", "eval_ckpt", "eval_modes", "arm", "experiment", "debug"}


def validate_run(cfg: Any, datamodule_cls: type | None = None) -> Run:
    """Validate a composed run config; ``datamodule_cls`` checks ``task.data`` against its arguments."""
    raw = to_plain(cfg)
    unknown = sorted(set(raw) - TOP_LEVEL)
    if unknown:
        raise ConfigError(unknown[0], f"unknown key; valid top-level keys are {sorted(TOP_LEVEL)}")
    raw = apply_debug(raw)
    task = from_mapping(TaskConfig, raw.get("task", {}), "task")
    if datamodule_cls is not None:
        accepted = set(inspect.signature(datamodule_cls).parameters) - {"batch_size"}
        for key in task.data:
            require(key in accepted, f"task.data.{key}", f"unknown key; {datamodule_cls.__name__} accepts {sorted(accepted)}")
    model_node = dict(raw.get("model", {}))
    solver = None
    if model_node.get("name") in SOLVER_MODELS:
        solver = from_mapping(SolverConfig, raw.get("solver", {}), "solver")
        model_node["solver"] = raw.get("solver", {})
    else:  # a model without a solver reads none: not validated, not saved with its checkpoints
        raw.pop("solver", None)
    model = model_config(model_node, "model")
    require(model.vocab_size == task.vocab_size, "model.vocab_size",
            f"{model.vocab_size} differs from task.vocab_size={task.vocab_size}")
    require(model.max_len >= task.seq_len, "model.max_len", f"{model.max_len} < task.seq_len={task.seq_len}")
    require(model.causal == task.causal, "model.causal", f"{model.causal} differs from task.causal={task.causal}")
    train = from_mapping(TrainConfig, raw.get("train", {}), "train")
    require(train.supervision_steps == 1 or MODELS[model.name][1].carries_state, "train.supervision_steps",
            f"{train.supervision_steps} segments would repeat one computation: a {model.name} restarted from its "
            f"own output with the same input returns the same output; use 1 (or a model that carries state)")
    for i, mode in enumerate(train.val_modes):
        require_inference_mode(mode, f"train.val_modes[{i}]")
    trainer = from_mapping(TrainerConfig, raw.get("trainer", {}), "trainer")
    optim = from_mapping(OptimConfig, raw.get("optim", {}), "optim")
    require(trainer.strategy != "fsdp" or optim.ema_decay == 0, "optim.ema_decay",
            f"{optim.ema_decay}: Lightning's weight averaging does not support sharded models "
            f"(trainer.strategy=fsdp); use 0")
    require(not train.act or issubclass(MODELS[model.name][1], Recursive), "train.act",
            f"ACT halting needs a model with a Q-head (trm, trm_deq); {model.name} has none")
    seed = raw.get("seed", 0)
    require(isinstance(seed, int), "seed", f"expected an integer, got {seed!r}")
    eval_ckpt, eval_modes = raw.get("eval_ckpt", "last"), raw.get("eval_modes")
    require(eval_ckpt in ("last", "best"), "eval_ckpt", f"expected 'last' or 'best', got {eval_ckpt!r}")
    for i, mode in enumerate(eval_modes or []):
        require_inference_mode(mode, f"eval_modes[{i}]")
    return Run(
        task=task, model=model, solver=solver,
        optim=optim, train=train, trainer=trainer,
        logger=from_mapping(LoggerConfig, raw.get("logger", {}), "logger"),
        seed=seed, name=str(raw.get("name", "run")), ckpt_path=raw.get("ckpt_path"),
        eval_after_fit=bool(raw.get("eval_after_fit", True)), eval_ckpt=eval_ckpt,
        eval_modes=None if eval_modes is None else list(eval_modes), raw=raw,
    )
