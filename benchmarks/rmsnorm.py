"""RMSNorm: our module against ``torch.nn.RMSNorm``, side by side in one process (forward + backward).

    OMP_NUM_THREADS=1 python -m benchmarks.rmsnorm --json docs/results/rmsnorm_cpu.json

Both are timed interleaved, round by round, on the same inputs, so load from other processes hits
them alike; reported: median seconds per forward+backward, the ratio torch / ours, and the largest
difference of outputs and gradients (float32, so "numerically equal" means rounding only).
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as `python benchmarks/X.py`: put the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attractor.nn.block import RMSNorm  # noqa: E402
from benchmarks.common import emit, parser  # noqa: E402

SHAPES = ((64, 81, 64), (32, 256, 128), (8, 1024, 384))  # puzzle batches, the CPU LM, the GPU LM's width


def step(norm: torch.nn.Module, x: torch.Tensor, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().requires_grad_()
    norm.zero_grad(set_to_none=True)
    out = norm(x)
    out.backward(grad)
    return out.detach(), x.grad


def main() -> None:
    p = parser(__doc__.splitlines()[0], "rmsnorm.json")
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--shapes", type=int, nargs=3, action="append", metavar=("B", "T", "D"),
                   help="input shapes (default: the three of SHAPES)")
    args = p.parse_args()
    dtype = getattr(torch, args.dtype)
    figures, rows = {}, []
    for b, t, d in args.shapes or SHAPES:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(b, t, d, generator=gen).to(args.device, dtype)
        grad = torch.randn(b, t, d, generator=gen).to(args.device, dtype)
        ours = RMSNorm(d).to(args.device, dtype)
        theirs = torch.nn.RMSNorm(d, eps=ours.eps).to(args.device, dtype)
        with torch.no_grad():
            ours.weight.copy_(1 + 0.1 * torch.randn(d, generator=gen))
            theirs.weight.copy_(ours.weight)
        (out_a, gx_a), (out_b, gx_b) = step(ours, x, grad), step(theirs, x, grad)
        times: dict[str, list[float]] = {"ours": [], "torch": []}
        for _ in range(args.rounds):
            for name, norm in (("ours", ours), ("torch", theirs)):
                start = time.perf_counter()
                step(norm, x, grad)
                times[name].append(time.perf_counter() - start)
        median = {k: statistics.median(v) for k, v in times.items()}
        key = f"{b}x{t}x{d}"
        figures[key] = {"ours_s": median["ours"], "torch_s": median["torch"], "torch_over_ours": median["torch"] / median["ours"],
                        "max_abs_diff_out": (out_a - out_b).abs().max().item(),
                        "max_abs_diff_grad_x": (gx_a - gx_b).abs().max().item(),
                        "max_abs_diff_grad_weight": (ours.weight.grad - theirs.weight.grad).abs().max().item()}
        f = figures[key]
        rows.append([key, f"{1e6 * f['ours_s']:.0f}", f"{1e6 * f['torch_s']:.0f}", f"{f['torch_over_ours']:.2f}",
                     f"{f['max_abs_diff_out']:.1e}", f"{f['max_abs_diff_grad_x']:.1e}"])
    figures["setup"] = dict(device=args.device, dtype=args.dtype, rounds=args.rounds, threads=torch.get_num_threads(),
                            torch=torch.__version__)
    emit(args.json, figures, rows, ["shape", "ours us", "torch us", "torch/ours", "max |out diff|", "max |dx diff|"])


if __name__ == "__main__":
    main()
