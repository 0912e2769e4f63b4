"""The sizes of the judged Gibbs study (``benchmarks/gibbs_synthetic.py``) and where its files go."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from attractor.decoding.arithmetic import ArithmeticConfig


@dataclass(frozen=True)
class Preset:
    """Sizes of one study: the problems, the training budget and the decoding grid."""

    arithmetic: ArithmeticConfig
    n_train: int
    n_dev: int
    n_test: int
    k: int
    ks: tuple[int, ...]
    temperatures: tuple[float, ...]
    train: tuple[str, ...]
    models: dict[str, tuple[str, ...]]
    hf_problems: int
    questions_per_batch: int
    max_new_tokens: int
    snapshot_every: int
    """Training steps between the snapshots ``pick`` chooses from."""
    target_greedy: float
    """The dev greedy accuracy ``pick`` aims at (within ``study.GREEDY_RANGE``)."""


PRESETS = {
    # 3-step problems on operands up to 99. Dev greedy accuracy at the end of training (2026-12-02,
    # transformer, 0.8M params, ~1,600-1,700 training steps): operands up to 99 -> 96.3% (too strong),
    # up to 299 -> 6.3%, up to 999 -> 15.3% (too weak). Accuracy jumps steeply with training, so no
    # step count or difficulty can be guessed: the strength is chosen on dev instead (stage pick: the
    # snapshot, one every 100 steps, whose dev greedy accuracy is nearest 75%, within 60-90%).
    # max_steps: what one shared core fits in 20 minutes (measured 1.4 steps/s for the transformer, ~0.9 for the
    # attractor), so the cosine schedule ends near the time cap.
    "full": Preset(
        arithmetic=ArithmeticConfig(steps=3, max_value=99, ops="+-"),
        n_train=200_000, n_dev=300, n_test=1000, k=32, ks=(1, 2, 4, 8, 16, 32), temperatures=(0.6, 0.8, 1.0, 1.2),
        train=("task.seq_len=128", "task.batch_size=32", "model.dim=128", "optim.lr=3e-3", "optim.warmup_steps=100",
               "train.max_steps=1700", "train.max_time_s=1200", "train.val_every_steps=500",
               "train.checkpoint_every_steps=500", "train.val_max_items=64"),
        models={"transformer": ("model.n_layers=4",), "attractor": ("model.backbone_layers=2", "model.f_layers=2",
                                                                    "train.max_steps=1000")},
        hf_problems=200, questions_per_batch=32, max_new_tokens=64, snapshot_every=100, target_greedy=0.75,
    ),
    "smoke": Preset(
        arithmetic=ArithmeticConfig(steps=1, max_value=9, ops="+"),
        n_train=60, n_dev=5, n_test=6, k=4, ks=(1, 2, 4), temperatures=(0.8, 1.0),
        train=("task.seq_len=32", "task.batch_size=4", "model.dim=16", "model.n_heads=2", "optim.warmup_steps=1",
               "train.max_steps=3", "train.val_every_steps=3", "train.checkpoint_every_steps=3", "train.val_max_items=2",
               "task.eval_batch_size=4"),
        models={"transformer": ("model.n_layers=2",), "attractor": ("model.backbone_layers=1", "model.f_layers=1",
                                                                    "solver.max_iter=3")},
        hf_problems=3, questions_per_batch=4, max_new_tokens=12, snapshot_every=1, target_greedy=0.75,
    ),
}


@dataclass(frozen=True)
class Study:
    """Where one study's files go."""

    out: Path
    preset: Preset

    @property
    def data(self) -> Path:
        return self.out / "data"

    def model_dir(self, model: str) -> Path:
        return self.out / model

    def result_path(self, model: str) -> Path:
        return self.model_dir(model) / "result.json"

    def snapshot_dir(self, model: str) -> Path:
        return self.model_dir(model) / "train" / "checkpoints" / "snapshots"

    def pick_path(self, model: str) -> Path:
        return self.model_dir(model) / "pick.json"
