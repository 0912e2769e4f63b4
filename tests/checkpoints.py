"""Training checkpoints for tests, saved as train.py saves them, without training."""
from __future__ import annotations

from pathlib import Path

import torch

from attractor.models import SequenceModel, build_model
from attractor.tasks.config import Run, validate_run
from attractor.tasks.harness import datamodule_class
from tests.conftest import compose_run


def perturb(model: SequenceModel, seed: int = 0, scale: float = 0.05) -> SequenceModel:
    """Move every parameter off its initial value, so that a tensor left unloaded shows in the logits."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))
    return model.eval()


def run_config(overrides: list[str]) -> Run:
    cfg = compose_run(["logger=none", *overrides])
    return validate_run(cfg, datamodule_class(cfg.task.name))


def save_checkpoint(run: Run, path: Path, ema: bool = False) -> tuple[SequenceModel, SequenceModel | None]:
    """A checkpoint of ``run`` with perturbed weights; with ``ema``, the average in ``state_dict`` and
    other raw weights in ``current_model_state`` (as attractor.tasks.ema saves them). Returns (raw, ema)."""
    raw = perturb(build_model(run.model), seed=1)
    average = perturb(build_model(run.model), seed=2) if ema else None
    as_module = lambda m: {f"model.{k}": v for k, v in m.state_dict().items()}  # noqa: E731
    ckpt = {"state_dict": as_module(average or raw), "hyper_parameters": {"config": run.raw}}
    if ema:
        ckpt["current_model_state"] = as_module(raw)
    torch.save(ckpt, path)
    return raw, average


def lm_overrides(root: Path, model: str = "transformer") -> list[str]:
    """A tiny char-level LM on a generated corpus prepared under ``root``."""
    text = root / "corpus.txt"
    if not text.exists():
        text.write_text("".join(f"line {i:03d} of the corpus\n" for i in range(300)))
    return ["experiment=lm_smoke", f"model={model}", "model.dim=16", "model.n_heads=2", "task.seq_len=16",
            "task.vocab_size=25", f"task.data.inputs=[{text}]", f"task.data.prepare_dir={root / 'prepared'}"]
