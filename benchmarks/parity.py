"""Learning parity with the reference code: our attractor and jacobfa/Attractor's LM on identical batches.

Given a local checkout of https://github.com/jacobfa/Attractor (``--reference PATH``; not installed,
not vendored: imported from PATH at run time), builds its ``Attractor`` LM and ours at the same small
shape (width 64, 4 heads, 2 backbone + 2 map blocks, char-level Tiny Shakespeare, batch 16 x 128),
trains each with the same AdamW schedule on the same batches, interleaved step by step (so load from
other jobs hits every model alike), and writes the loss curves side by side as JSON.

Models (``--models``):
- ``reference``: the reference's ``AttractorConfig`` defaults at this shape (gates 0.25, init
  ``scaled``, Anderson to 1e-3 in at most 12 iterations, Neumann-1 backward with its adjoint clip),
  except ``padding_multiple=1``, so its softmax runs over the 65 characters as ours does;
- ``ours_ref``: ``model=attractor_ref solver=reference_lm`` (the reference recipe in our framework);
- ``ours_default``: ``model=attractor`` with the LM presets' solver (last_k=1, 12 iterations, 1e-3);
- ``ours_ref_gpt2_init``, ``ours_ref_one_gate``: ablations of ``ours_ref``, with our N(0, 0.02) init,
  or with our single gate (0.25) on the map's whole update instead of one per sublayer;
- ``ours_ref_row``, ``ours_ref_sample``, ``ours_ref_batch``: ``ours_ref`` with each stopping rule
  (``solver.stop_scope``: every position's residual, each sequence's (the reference's), the batch's).

Each step logs the evaluations of f it ran (``f_evaluations``: ours, the solve's longest row plus the
gradient-carrying evaluation; the reference, its solver's ``iters`` plus its one IFT evaluation) and
its seconds (``step_seconds``), so step-time ratios are paired step by step.

Both code bases name their package ``attractor``: the reference is imported and built with its
modules swapped into ``sys.modules`` and ours swapped back afterwards; a built model keeps the
modules it was defined in. The reference imports cleanly on CPU without its optional GPU packages
(triton, flash-attention kernels), which only its fused heads use.

    python -m benchmarks.parity --reference /tmp/ref-attractor --steps 500 --seeds 0 1 2 \
        --json docs/results/parity_cpu.json
    python benchmarks/parity.py --reference PATH
    python -m benchmarks.parity --plot curves.png --plot-from a.json b.json   # no training: curves only
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import math
import statistics
import time
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn

from attractor.compose import compose
from attractor.io import write_json
from attractor.models import build_model

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEXT = ROOT.parent / "shared" / "data" / "text" / "tinyshakespeare.txt"
OURS = {
    "ours_ref": ["model=attractor_ref", "solver=reference_lm"],
    "ours_default": ["model=attractor", "solver=anderson", "solver.max_iter=12", "solver.tol=1e-3",
                     "solver.backward=last_k", "solver.last_k=1", "solver.anderson_lam=1e-4"],
    # ablations: the reference recipe with one part put back to ours
    "ours_ref_gpt2_init": ["model=attractor_ref", "solver=reference_lm", "model.init=gpt2"],
    "ours_ref_one_gate": ["model=attractor_ref", "solver=reference_lm", "model.map=gated_residual"],
    # the stopping rules (solver.stop_scope)
    **{f"ours_ref_{scope}": ["model=attractor_ref", "solver=reference_lm", f"solver.stop_scope={scope}"]
       for scope in ("row", "sample", "batch")},
}
MODELS = ("reference", *OURS)
DEFAULT_MODELS = ["reference", "ours_ref", "ours_default"]


def char_data(path: Path, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray, int]:
    """Character ids of the text (sorted vocabulary), split into a leading train and trailing val part."""
    text = path.read_text(encoding="utf-8")
    vocab = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    ids = np.fromiter((index[ch] for ch in text), dtype=np.int64, count=len(text))
    cut = int(len(ids) * (1 - val_fraction))
    return ids[:cut], ids[cut:], len(vocab)


def batch(ids: np.ndarray, starts: np.ndarray, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    windows = torch.from_numpy(np.stack([ids[s : s + seq_len + 1] for s in starts]))
    return windows[:, :-1].contiguous(), windows[:, 1:].contiguous()


def train_batch(ids: np.ndarray, seed: int, step: int, batch_size: int, seq_len: int):
    """Batch ``step`` of a run: a function of (seed, step) alone, so every model sees the same one."""
    starts = np.random.default_rng([seed, step]).integers(0, len(ids) - seq_len - 1, batch_size)
    return batch(ids, starts, seq_len)


@contextmanager
def reference_modules(path: Path):
    """Import from the reference checkout under the package name ``attractor``, then restore ours."""
    if not (path / "attractor" / "models" / "attractor" / "attractor.py").is_file():
        raise SystemExit(f"--reference {path}: no attractor/models/attractor/attractor.py there; "
                         "pass a checkout of https://github.com/jacobfa/Attractor")
    ours = {k: v for k, v in sys.modules.items() if k == "attractor" or k.startswith("attractor.")}
    for key in ours:
        del sys.modules[key]
    sys.path.insert(0, str(path))
    try:
        yield
    finally:
        sys.path.remove(str(path))
        for key in [k for k in sys.modules if k == "attractor" or k.startswith("attractor.")]:
            del sys.modules[key]
        sys.modules.update(ours)


class ReferenceLM(nn.Module):
    """The reference model behind our calling convention: ``loss(tokens, targets)``."""

    def __init__(self, path: Path, vocab: int, seq_len: int, dim: int, heads: int, layers: tuple[int, int]):
        super().__init__()
        with reference_modules(path):
            from attractor.models.attractor import AttractorConfig  # the reference's, see reference_modules

            cfg = AttractorConfig(name="parity", block_size=seq_len, vocab_size=vocab, padding_multiple=1,
                                  n_embd=dim, num_attention_heads=heads, n_backbone_layers=layers[0],
                                  n_fp_blocks=layers[1])
            self.net = cfg.construct_model()
        self.embedding_weight = self.net.transformer.wte.weight

    def loss(self, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        loss = self.net(tokens, labels=targets)["loss"]
        self.f_evaluations = self.net._last_solver_info["iters"] + 1  # + the IFT evaluation
        return loss


class OurLM(nn.Module):
    def __init__(self, overrides: list[str], vocab: int, seq_len: int, dim: int, heads: int,
                 layers: tuple[int, int]):
        super().__init__()
        cfg = compose(["task=lm", f"task.vocab_size={vocab}", f"task.seq_len={seq_len}", *overrides,
                       f"model.dim={dim}", f"model.n_heads={heads}", f"model.backbone_layers={layers[0]}",
                       f"model.f_layers={layers[1]}"])
        node = OmegaConf.to_container(cfg.model, resolve=True)
        node["solver"] = OmegaConf.to_container(cfg.solver, resolve=True)
        self.net = build_model(node)
        self.embedding_weight = self.net.embedding.weight

    def loss(self, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        out = self.net(tokens)
        self.f_evaluations = int(out.stats["iterations"].max()) if "iterations" in out.stats else 0
        loss = F.cross_entropy(out.logits.flatten(0, 1), targets.flatten())
        return loss if out.aux_loss is None or not self.training else loss + out.aux_loss


def optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW (0.9, 0.95); decay on matrices except the (tied) embedding, in both models alike."""
    decay = [p for p in model.parameters() if p.dim() >= 2 and p is not model.embedding_weight]
    ids = {id(p) for p in decay}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.95))


def lr_at(step: int, args: argparse.Namespace) -> float:
    """Linear warm-up, then cosine to 10% of the peak at the last step."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def val_loss(model: nn.Module, val_ids: np.ndarray, args: argparse.Namespace) -> float:
    """Mean loss over fixed evenly spaced validation windows (the same for every model and seed)."""
    model.eval()
    starts = np.linspace(0, len(val_ids) - args.seq_len - 2, args.val_windows).astype(np.int64)
    losses = [model.loss(*batch(val_ids, chunk, args.seq_len)).item()
              for chunk in np.array_split(starts, math.ceil(args.val_windows / args.batch_size))]
    model.train()
    return float(np.mean(losses))


def build(name: str, vocab: int, args: argparse.Namespace) -> nn.Module:
    shape = dict(vocab=vocab, seq_len=args.seq_len, dim=args.dim, heads=args.heads, layers=tuple(args.layers))
    if name == "reference":
        return ReferenceLM(args.reference, **shape)
    return OurLM(OURS[name], **shape)


def run_seed(seed: int, train_ids: np.ndarray, val_ids: np.ndarray, vocab: int,
             args: argparse.Namespace) -> dict[str, Any]:
    models, optims, logs = {}, {}, {}
    for name in args.models:
        torch.manual_seed(seed)
        models[name] = build(name, vocab, args).train()
        optims[name] = optimizer(models[name], args.lr, args.weight_decay)
        logs[name] = {"parameters": sum(p.numel() for p in models[name].parameters()),
                      "train_loss": [], "val_loss": [], "seconds": 0.0, "step_seconds": [], "f_evaluations": []}
    for step in range(args.steps):
        tokens, targets = train_batch(train_ids, seed, 0 if args.same_batch else step, args.batch_size, args.seq_len)
        for name, model in models.items():
            start = time.perf_counter()
            for group in optims[name].param_groups:
                group["lr"] = lr_at(step, args)
            loss = model.loss(tokens, targets)
            optims[name].zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
            optims[name].step()
            seconds = time.perf_counter() - start
            logs[name]["seconds"] += seconds
            logs[name]["step_seconds"].append(round(seconds, 5))
            logs[name]["f_evaluations"].append(model.f_evaluations)
            logs[name]["train_loss"].append(round(loss.item(), 5))
            if (step + 1) % args.val_every == 0 or step + 1 == args.steps:
                logs[name]["val_loss"].append([step + 1, round(val_loss(model, val_ids, args), 5)])
        if (step + 1) % args.log_every == 0:
            print(f"seed {seed} step {step + 1}: " + "  ".join(
                f"{n} {logs[n]['train_loss'][-1]:.3f}" for n in models), flush=True)
    return logs


def summary(runs: dict[str, dict[str, Any]], models: list[str], tail: int) -> dict[str, Any]:
    """Per model: final validation loss and mean training loss of the last ``tail`` steps, mean over
    seeds with a 95% t-interval half-width; each of ours against the reference."""
    out: dict[str, Any] = {}
    for name in models:
        finals = {"val_loss": [r[name]["val_loss"][-1][1] for r in runs.values()],
                  f"train_loss_last{tail}": [float(np.mean(r[name]["train_loss"][-tail:])) for r in runs.values()],
                  "s_per_step": [r[name]["seconds"] / len(r[name]["train_loss"]) for r in runs.values()],
                  "f_evaluations_mean": [float(np.mean(r[name]["f_evaluations"])) for r in runs.values()]}
        out[name] = {key: mean_ci(values) for key, values in finals.items()}
    if "reference" in models:
        ref = out["reference"]["val_loss"]["mean"]
        for name in models:
            out[name]["val_loss_vs_reference"] = round(out[name]["val_loss"]["mean"] / ref - 1, 4)
            # per seed, the median over steps of this model's step time / the reference's at the same step
            out[name]["step_time_ratio_to_reference"] = mean_ci([
                float(np.median(np.array(r[name]["step_seconds"]) / np.array(r["reference"]["step_seconds"])))
                for r in runs.values()])
    return out


T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def mean_ci(values: list[float]) -> dict[str, Any]:
    """Mean and the half-width of its 95% t-interval (Student's t quantile for up to 10 seeds)."""
    mean = float(np.mean(values))
    n = len(values)
    half = T975.get(n - 1, 1.96) * statistics.stdev(values) / math.sqrt(n) if n > 1 else None
    return {"mean": round(mean, 5), "ci95_half": None if half is None else round(half, 5),
            "values": [round(v, 5) for v in values]}


def plot(files: list[Path], path: Path, window: int = 25) -> None:
    """Training loss (moving mean over ``window`` steps; mean over seeds) of every model in the JSONs."""
    from attractor.plotting import save_figure

    with save_figure(path, figsize=(7, 4)) as (_, ax):
        for file in files:
            runs = json.loads(file.read_text())["runs"]
            for name in next(iter(runs.values())):
                curve = np.mean([r[name]["train_loss"] for r in runs.values()], axis=0)
                width = min(window, len(curve))
                smooth = np.convolve(curve, np.ones(width) / width, mode="valid")
                ax.plot(np.arange(width, len(curve) + 1), smooth, label=f"{name} ({len(runs)} seeds)")
        ax.set_xlabel("step (batch 16 x 128, identical batches)")
        ax.set_ylabel(f"training loss, mean of {window} steps")
        ax.grid(alpha=0.3)
        ax.legend()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reference", type=Path, help="local checkout of https://github.com/jacobfa/Attractor")
    p.add_argument("--models", nargs="+", default=DEFAULT_MODELS, choices=MODELS)
    p.add_argument("--text", type=Path, default=DEFAULT_TEXT)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--layers", type=int, nargs=2, default=[2, 2], metavar=("BACKBONE", "MAP"))
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--same-batch", action="store_true", help="train on batch 0 at every step (a memorisation check)")
    p.add_argument("--val-every", type=int, default=100)
    p.add_argument("--val-windows", type=int, default=64)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--tail", type=int, default=50, help="training-loss steps averaged in the summary")
    p.add_argument("--json", type=Path, default=Path("parity.json"))
    p.add_argument("--plot", type=Path, help="with --plot-from: draw the training curves of those JSONs here")
    p.add_argument("--plot-from", type=Path, nargs="+")
    args = p.parse_args(argv)
    if args.plot_from:
        return plot(args.plot_from, args.plot or p.error("--plot-from needs --plot PATH"))
    if "reference" in args.models and args.reference is None:
        p.exit(2, "parity: no --reference given; clone https://github.com/jacobfa/Attractor somewhere outside "
                  "this repository and pass its path (or run only our models: --models ours_ref ours_default)\n")
    if not args.text.is_file():
        p.exit(2, f"parity: --text {args.text} not found\n")
    train_ids, val_ids, vocab = char_data(args.text)
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "json"}
    config["command"] = " ".join(sys.argv)
    runs: dict[str, Any] = {}
    for seed in args.seeds:
        runs[str(seed)] = run_seed(seed, train_ids, val_ids, vocab, args)
        write_json(args.json, {"config": config, "summary": summary(runs, args.models, args.tail), "runs": runs})
    print(OmegaConf.to_yaml(summary(runs, args.models, args.tail)))


if __name__ == "__main__":
    main()
