"""Training throughput of the three causal LMs at about equal parameters: tokens/s of one step.

A step is forward, cross-entropy (+ the model's aux loss), backward and AdamW, on random tokens of
a char vocabulary (65, Tiny Shakespeare's). Each model has 4 blocks of the same width, so the
parameter counts match to within the attractor's gates; the attractor and looped models apply
blocks more often per token, which is what the tokens/s column prices. On CUDA the step runs under
bf16 autocast, and with ``--peak-tflops`` an MFU estimate 6 * params * tokens/s / peak is reported
(it counts parameter FLOPs once per token, so it understates the work of looped and attractor).

    python -m benchmarks.lm_throughput --json docs/results/lm_throughput_cpu.json
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/X.py`: put the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import statistics
import time
from typing import Any

import torch
import torch.nn.functional as F

from attractor import build_model
from benchmarks.common import emit, parser

VOCAB, SEQ_LEN = 65, 256


def model_configs(dim: int, n_heads: int) -> dict[str, dict[str, Any]]:
    shared = dict(vocab_size=VOCAB, max_len=SEQ_LEN, dim=dim, n_heads=n_heads, causal=True)
    return {
        "transformer": dict(name="transformer", n_layers=4, **shared),
        "looped": dict(name="looped", prelude_layers=1, core_layers=2, loops=2, coda_layers=1, **shared),
        "attractor": dict(name="attractor", backbone_layers=2, f_layers=2, solver=dict(max_iter=8, tol=1e-3), **shared),
    }


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(cfg: dict[str, Any], tokens: torch.Tensor, device: str, autocast: bool, warmup: int,
            steps: int) -> dict[str, float]:
    """Median step time over ``steps`` after ``warmup`` steps, and the mean ``stats["iterations"]``
    (solver iterations for the attractor, loops for the looped model)."""
    torch.manual_seed(0)
    model = build_model(cfg).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    inputs, labels = tokens[:, :-1], tokens[:, 1:]
    times, iterations = [], []
    for i in range(warmup + steps):
        _sync(device)
        start = time.perf_counter()
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=autocast):
            out = model(inputs)
            loss = F.cross_entropy(out.logits.float().flatten(0, 1), labels.flatten())
            if out.aux_loss is not None:
                loss = loss + out.aux_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
            if "iterations" in out.stats:
                iterations.append(out.stats["iterations"].float().mean().item())
    step_s = statistics.median(times)
    return {"parameters": model.num_parameters(), "step_s_median": step_s, "tokens_per_s": inputs.numel() / step_s,
            "mean_iterations": statistics.mean(iterations) if iterations else None}


def main() -> None:
    p = parser(__doc__.splitlines()[0], "docs/results/lm_throughput_cpu.json")
    p.set_defaults(dtype="bfloat16" if torch.cuda.is_available() else "float32")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--n-heads", type=int, default=4)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--peak-tflops", type=float, default=None, help="device peak (bf16 dense on GPU) for MFU")
    args = p.parse_args()
    if args.dtype == "float64":
        p.error("--dtype float64 is not a training precision; use float32 or bfloat16 (autocast)")
    autocast = args.dtype == "bfloat16"
    tokens = torch.randint(0, VOCAB, (args.batch, SEQ_LEN + 1), generator=torch.Generator().manual_seed(0))
    tokens = tokens.to(args.device)
    figures: dict[str, Any] = {}
    rows = []
    for name, cfg in model_configs(args.dim, args.n_heads).items():
        f = measure(cfg, tokens, args.device, autocast, args.warmup, args.steps)
        if args.peak_tflops:
            f["mfu"] = 6 * f["parameters"] * f["tokens_per_s"] / (args.peak_tflops * 1e12)
        figures[name] = f
        iters = f["mean_iterations"]
        rows.append([name, f"{f['parameters']:,}", f"{f['tokens_per_s']:,.0f}", f"{f['step_s_median'] * 1e3:.0f}",
                     "-" if iters is None else f"{iters:.2f}", f"{f['mfu']:.1%}" if "mfu" in f else "-"])
    figures["setup"] = dict(device=args.device, precision="bf16 autocast" if autocast else "float32",
                            batch=args.batch, seq_len=SEQ_LEN, vocab=VOCAB, dim=args.dim, n_heads=args.n_heads,
                            warmup=args.warmup, steps=args.steps, peak_tflops=args.peak_tflops,
                            threads=torch.get_num_threads(), torch=torch.__version__,
                            gpu=torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
                            configs=model_configs(args.dim, args.n_heads))
    emit(args.json, figures, rows, ["model", "params", "tokens/s", "step ms", "iterations", "MFU"])


if __name__ == "__main__":
    main()
