"""Training step time of the attractor against the transformer at equal parameters, per backward mode,
eager and with the blocks compiled, at fixed solver iteration counts.

A step is forward, cross-entropy, backward and AdamW on random tokens of a 65-character vocabulary,
at the shape of the documented Tiny Shakespeare runs (width 96, 4 heads, 4 blocks: transformer 4,
attractor 2 backbone + 2 map; batch 16 x 128). The solve runs exactly ``N`` evaluations of f
(``max_iter=N, tol=0``) for each ``--iterations N``: pass the count a trained model uses (the
documented attractor runs' training steps end at 6.3-8.2 iterations per sample; they start near 3.4).
Compiled: ``attractor.tasks.harness.compile_blocks`` (every block, not the solver loop). In each
round every variant steps right after a transformer step of the same setting, eager then compiled,
and those paired ratios are kept, so load from other jobs cancels out; medians over rounds.

    python -m benchmarks.step_time --json docs/results/step_time_cpu.json
    python benchmarks/step_time.py --json FILE
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import statistics
import time
from typing import Any

import torch
import torch.nn.functional as F

from attractor import build_model
from attractor.tasks.harness import compile_blocks
from benchmarks.common import emit, parser

VOCAB = 65
MODES = {  # backward mode -> solver options (the trained run used last_k with K = 1)
    "implicit": dict(backward="implicit"),
    "neumann": dict(backward="neumann"),
    "phantom": dict(backward="phantom", phantom_steps=5, phantom_tau=0.5),
    "last_k": dict(backward="last_k", last_k=1),
    "unrolled": dict(backward="unrolled"),
}


class Stepper:
    """One model with its optimiser; ``step()`` runs one training step and returns its seconds."""

    def __init__(self, cfg: dict[str, Any], tokens: torch.Tensor, compiled: bool):
        torch.manual_seed(0)
        self.model = build_model(cfg).to(tokens.device).train()
        if compiled:
            compile_blocks(self.model)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        self.inputs, self.labels = tokens[:, :-1], tokens[:, 1:]
        self.iterations: list[float] = []

    def step(self) -> float:
        _sync(self.inputs.device)
        start = time.perf_counter()
        out = self.model(self.inputs)
        loss = F.cross_entropy(out.logits.flatten(0, 1), self.labels.flatten())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        _sync(self.inputs.device)
        seconds = time.perf_counter() - start
        if "iterations" in out.stats:
            self.iterations.append(out.stats["iterations"].float().mean().item())
        return seconds


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def variants(args) -> dict[str, dict[str, Any]]:
    shared = dict(vocab_size=VOCAB, max_len=args.seq_len, dim=args.dim, n_heads=args.n_heads, causal=True)
    out = {"transformer": dict(name="transformer", n_layers=4, **shared)}
    for n in args.iterations:
        for mode, options in MODES.items():
            if mode == "phantom" and n <= options["phantom_steps"]:
                continue  # its gradient-carrying steps alone exceed the budget
            out[f"attractor/{mode}/{n}"] = dict(name="attractor", backbone_layers=2, f_layers=2,
                                                solver=dict(max_iter=n, tol=0.0, **options), **shared)
    return out


def main() -> None:
    p = parser(__doc__.splitlines()[0], "docs/results/step_time_cpu.json")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--dim", type=int, default=96)
    p.add_argument("--n-heads", type=int, default=4)
    p.add_argument("--iterations", type=int, nargs="+", default=[3, 9])
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--compile", choices=["both", "eager", "compiled"], default="both")
    args = p.parse_args()
    if args.dtype != "float32":
        p.error("--dtype: this benchmark times float32 steps only")
    tokens = torch.randint(0, VOCAB, (args.batch, args.seq_len + 1), generator=torch.Generator().manual_seed(0))
    tokens = tokens.to(args.device)
    settings = {"both": (False, True), "eager": (False,), "compiled": (True,)}[args.compile]
    configs = variants(args)
    steppers = {(name, compiled): Stepper(cfg, tokens, compiled)
                for compiled in settings for name, cfg in configs.items()}
    compile_s = {}
    for key, stepper in steppers.items():  # warm-up: compilation happens here
        compile_s[key] = sum(stepper.step() for _ in range(args.warmup))
    times: dict[tuple[str, bool], list[float]] = {key: [] for key in steppers}
    ratios: dict[tuple[str, bool], list[float]] = {key: [] for key in steppers}
    for _ in range(args.rounds):
        for name in configs:  # each variant right after a transformer step of the same setting
            for compiled in settings:
                reference = steppers[("transformer", compiled)].step()
                seconds = reference if name == "transformer" else steppers[(name, compiled)].step()
                times[(name, compiled)].append(seconds)
                ratios[(name, compiled)].append(seconds / reference)
    figures: dict[str, Any] = {}
    rows = []
    for (name, compiled), stepper in steppers.items():
        kind = "compiled" if compiled else "eager"
        eager_key = (name, False)
        f = {"parameters": stepper.model.num_parameters(),
             "step_s_median": statistics.median(times[(name, compiled)]),
             "ratio_to_transformer": statistics.median(ratios[(name, compiled)]),
             "warmup_s": compile_s[(name, compiled)],
             "mean_iterations": statistics.mean(stepper.iterations) if stepper.iterations else None}
        if compiled and eager_key in times:
            f["speedup_vs_eager"] = statistics.median(
                e / c for e, c in zip(times[eager_key], times[(name, compiled)]))
        figures.setdefault(name, {})[kind] = f
        rows.append([name, kind, f"{f['parameters']:,}", f"{f['step_s_median'] * 1e3:.0f}",
                     f"{f['ratio_to_transformer']:.2f}", f"{f.get('speedup_vs_eager', float('nan')):.2f}"])
    figures["setup"] = dict(device=args.device, batch=args.batch, seq_len=args.seq_len, dim=args.dim, n_heads=args.n_heads, vocab=VOCAB,
                            iterations=args.iterations, warmup=args.warmup, rounds=args.rounds,
                            threads=torch.get_num_threads(), torch=torch.__version__, configs=configs)
    emit(args.json, figures, rows, ["variant", "kind", "params", "step ms", "x transformer", "compiled speedup"])


if __name__ == "__main__":
    main()
