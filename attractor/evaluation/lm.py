"""Evaluate a language-model checkpoint on its whole test split in every inference mode, and sample.

Writes ``eval.json`` (loss, perplexity and bits per byte per mode, with mean solver iterations) and
a PNG of perplexity against iterations, so "remove the solver at inference" is measured for LMs as
for puzzles. Every window of the split is scored unless ``max_items`` is given, and the JSON records
which split and how many (training validates on val; the test split is only scored here).

Sampling decodes incrementally with the model's key/value cache (``use_cache=False``: re-run the
model on the whole cropped context for each new token); see docs/lm.md.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from attractor.data.text.tokenizer import Tokenizer, load_tokenizer
from attractor.decoding.samplers import NativeSampler, SamplingParams
from attractor.evaluation.checkpoint import load_checkpoint
from attractor.evaluation.puzzle import sweep_modes
from attractor.io import write_json
from attractor.models import SequenceModel
from attractor.models.cache import DecodeCache
from attractor.plotting import save_figure
from attractor.tasks.config import Run
from attractor.tasks.harness import build_datamodule
from attractor.solvers.health import HealthTally
from attractor.tasks.lm import LMDataModule, bits_per_byte, next_token_nll


@torch.no_grad()
def score_lm(model: nn.Module, windows: Dataset, mode: str, batch_size: int, device: str,
             meta: dict[str, Any], split: str) -> dict[str, Any]:
    """Token-weighted mean loss over ``windows`` (of ``split``) in one inference mode, with perplexity,
    bits per byte, mean solver iterations (per window: its slowest position), the solve health over
    every position and throughput."""
    nll = torch.zeros((), dtype=torch.float64)
    n_tokens = n_windows = 0
    iterations, residuals, health = [], [], HealthTally()
    start = time.perf_counter()
    for batch in DataLoader(windows, batch_size=batch_size, shuffle=False):
        inputs, labels = batch["inputs"].to(device), batch["labels"].to(device)
        out = model(inputs, mode=mode)
        nll += next_token_nll(out.logits, labels).double().cpu()
        n_tokens += labels.numel()
        n_windows += inputs.shape[0]
        iterations.append(out.stats.get("iterations", torch.zeros(inputs.shape[0], device=device)).float().cpu())
        if "rel_residual" in out.stats:
            residuals.append(out.stats["rel_residual"].float().cpu())
        health.add(out.solve)
    seconds = time.perf_counter() - start
    loss = nll.item() / n_tokens
    return {
        "mode": mode, "n_windows": n_windows, "n_tokens": n_tokens,
        "loss": loss, "ppl": math.exp(loss), "bpb": bits_per_byte(loss, meta, split),
        "mean_iterations": torch.cat(iterations).mean().item(),
        "mean_rel_residual": torch.cat(residuals).mean().item() if residuals else None,
        "solve": health.summary(),  # per position: attractor.solvers.health (None: no solve ran)
        "seconds": seconds, "tokens_per_s": n_tokens / seconds,
    }


def _lm_data(run: Run, ckpt: str | os.PathLike) -> LMDataModule:
    if run.task.name != "lm":
        raise ValueError(f"{ckpt} is a {run.task.name!r} checkpoint; this evaluator scores language models")
    dm = build_datamodule(run)
    dm.setup("validate")
    return dm


def evaluate_lm_checkpoint(ckpt: str | os.PathLike, out_dir: str | os.PathLike, modes: list[str] | None = None,
                           batch_size: int | None = None, max_items: int | None = None, device: str | None = None,
                           expect_model: str | None = None, weights: str | None = None,
                           split: str = "test", solver: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Score a checkpoint on its corpus's whole ``split`` (test, or val to compare with training's
    validation) in every mode; write eval.json and the plot. ``solver``: solver fields changed for
    inference (``load_checkpoint``), recorded in eval.json.

    Modes default to the model's sweep: solver removed, 1..32 iterations and adaptive for the
    attractor; loop counts for the looped model; the transformer as it is.
    """
    solver = dict(solver or {})
    run, model, weights = load_checkpoint(ckpt, weights, expect_model, solver)
    dm = _lm_data(run, ckpt)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    if split not in ("val", "test"):
        raise ValueError(f"split: {split!r} is not one of 'val', 'test'")
    windows = dm.test_set if split == "test" else dm.val_set
    if max_items:
        windows = Subset(windows, range(min(max_items, len(windows))))
    modes = modes or sweep_modes(run.model.name)
    sweep = [score_lm(model, windows, mode, batch_size or run.task.eval_batch_size, device, dm.meta, split)
             for mode in modes]
    default = next((s for s in sweep if s["mode"] == "solver"), sweep[-1])
    report = {
        "checkpoint": str(ckpt), "weights": weights, "model": run.model.name, "task": run.task.name,
        "solver_overrides": solver, "parameters": sum(p.numel() for p in model.parameters()),
        "data_dir": str(dm.data_dir), "seq_len": run.task.seq_len,
        "n_windows": default["n_windows"], "n_tokens": default["n_tokens"],
        "split": split, "tokens_in_split": dm.meta["tokens"][split], "full_split": not max_items,
        **{k: default[k] for k in ("mode", "loss", "ppl", "bpb", "mean_iterations", "solve")},
        "sweep": sweep,
        "plot": "ppl_vs_iterations.png",
    }
    out_dir = Path(out_dir)
    plot_lm_sweep(sweep, out_dir / report["plot"], f"{run.model.name} LM, {split} perplexity per inference mode")
    write_json(out_dir / "eval.json", report)
    return report


def plot_lm_sweep(sweep: list[dict], path: Path, title: str) -> None:
    """Perplexity against mean iterations, one point per inference mode."""
    with save_figure(path) as (fig, ax):
        xs, ys = [s["mean_iterations"] for s in sweep], [s["ppl"] for s in sweep]
        ax.plot(xs, ys, "o-")
        for x, y, s in zip(xs, ys, sweep):
            ax.annotate(s["mode"], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set(xlabel="mean iterations", ylabel="perplexity", title=title)
        ax.set_xscale("symlog", linthresh=1)


@dataclass
class Generation:
    """A sampled continuation: its token ids and text (prompt excluded) and the time it took."""

    prompt: str
    token_ids: list[int]
    text: str
    seconds: float

    @property
    def ms_per_token(self) -> float:
        return 1000 * self.seconds / max(len(self.token_ids), 1)


class _InMode(nn.Module):
    """The model called in one inference mode, as the sampler calls any LM: ``tokens -> output``."""

    def __init__(self, model: SequenceModel, mode: str | None):
        super().__init__()
        self.model, self.mode = model, mode

    def forward(self, tokens: torch.Tensor, cache: DecodeCache | None = None):
        return self.model(tokens, mode=self.mode, cache=cache)

    def init_cache(self) -> DecodeCache:
        return self.model.init_cache()


def native_sampler(model: SequenceModel, tokenizer: Tokenizer, mode: str | None = None, device: str = "cpu",
                   use_cache: bool = True) -> NativeSampler:
    """The sampler every LM generation here goes through (``sample``, the evaluation harness): the
    model in ``mode``, seeing its last ``max_len`` tokens, with the key/value cache for causal models."""
    as_lists = SimpleNamespace(encode=lambda text: tokenizer.encode(text).tolist(), decode=tokenizer.decode)
    return NativeSampler(_InMode(model, mode), as_lists, device=device, max_len=model.cfg.max_len,
                         use_cache=use_cache and model.cfg.causal)


def sample(model: SequenceModel, tokenizer: Tokenizer, prompt: str, max_new_tokens: int = 200,
           temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, seed: int = 0,
           mode: str | None = None, device: str = "cpu", use_cache: bool = True) -> Generation:
    """Continue ``prompt`` by ``max_new_tokens`` tokens (temperature 0: greedy), reproducibly for a
    seed. With ``use_cache`` (causal models) each token runs the model on that token alone against
    the key/value cache, until the context reaches ``max_len``; otherwise, and from then on, each
    token re-runs the model on the last ``max_len`` tokens of the context."""
    params = SamplingParams(temperature=temperature, top_p=top_p, top_k=top_k, max_new_tokens=max_new_tokens)
    sampler = native_sampler(model, tokenizer, mode, device, use_cache)
    devices = [torch.device(device)] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        start = time.perf_counter()
        (particle,), = sampler.sample([prompt], 1, params)
        seconds = time.perf_counter() - start
    return Generation(prompt, particle.token_ids, particle.text, seconds)


def load_lm(ckpt: str | os.PathLike, expect_model: str | None = None,
            weights: str | None = None) -> tuple[Run, SequenceModel, Tokenizer]:
    """The run, model (EMA weights if kept, unless ``weights='raw'``) and tokenizer of an LM checkpoint."""
    run, model, _ = load_checkpoint(ckpt, weights, expect_model)
    return run, model, load_tokenizer(_lm_data(run, ckpt).data_dir)
