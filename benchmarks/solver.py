"""Forward solvers compared on one model and batch: iterations and wall time to a tolerance, traces.

An attractor model with the classic `normed` map (slow for plain iteration) is solved by anderson
(two regularisers: torchdeq's default 1e-4, and 1e-8), broyden and fixed_point_iter; a PNG of
residual vs iteration goes to docs/.

    python -m benchmarks.solver --json docs/results/solver_cpu.json --plot docs/results/solver_cpu.png
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/X.py`: put the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import time

import torch

from attractor import build_model
from attractor.plotting import save_figure
from benchmarks.common import emit, parser

SOLVERS = {
    "anderson": dict(name="anderson", anderson_lam=1e-4),
    "anderson_lam1e-8": dict(name="anderson", anderson_lam=1e-8),
    "broyden": dict(name="broyden"),
    "fixed_point_iter": dict(name="fixed_point_iter"),
}


def main() -> None:
    p = parser(__doc__.splitlines()[0], "docs/results/solver_cpu.json")
    p.add_argument("--plot", default="docs/results/solver_cpu.png")
    p.add_argument("--tol", type=float, default=1e-5)
    p.add_argument("--max-iter", type=int, default=100)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    dtype = getattr(torch, args.dtype)
    tokens = torch.randint(0, 11, (args.batch, 81), generator=torch.Generator().manual_seed(0)).to(args.device)
    figures, rows, traces = {}, [], {}
    for name, solver in SOLVERS.items():
        torch.manual_seed(0)
        cfg = dict(name="attractor", vocab_size=11, max_len=81, dim=args.dim, n_heads=4, map="normed",
                   solver=dict(tol=args.tol, max_iter=args.max_iter, stop_mode="rel", **solver))
        model = build_model(cfg).to(args.device, dtype).eval()
        with torch.no_grad():
            model(tokens)  # warm-up
            times = []
            for _ in range(args.repeats):
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                start = time.perf_counter()
                out = model(tokens, return_trace=True)
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - start)
        trace = out.stats["residual_trace"].float()
        traces[name] = trace.mean(dim=0).cpu()
        figures[name] = {
            "mean_iterations": out.stats["iterations"].float().mean().item(),
            "max_iterations": int(out.stats["iterations"].max()),
            "converged_fraction": out.stats["converged"].float().mean().item(),
            "final_rel_residual_mean": out.stats["rel_residual"].float().mean().item(),
            "wall_s_median": sorted(times)[len(times) // 2],
            "mean_residual_trace": traces[name].tolist(),
        }
        f = figures[name]
        rows.append([name, f"{f['mean_iterations']:.1f}", f"{f['converged_fraction']:.2f}",
                     f"{f['final_rel_residual_mean']:.1e}", f"{f['wall_s_median'] * 1e3:.1f}"])
    figures["setup"] = dict(device=args.device, dtype=args.dtype, tol=args.tol, max_iter=args.max_iter, dim=args.dim,
                            batch=args.batch, gpu=torch.cuda.get_device_name() if args.device.startswith("cuda") else None)
    with save_figure(args.plot) as (fig, ax):
        for name, trace in traces.items():
            ax.semilogy(range(1, len(trace) + 1), trace.numpy(), label=name)
        ax.axhline(args.tol, color="grey", linestyle=":", label="tolerance")
        ax.set(xlabel="function evaluations", ylabel="relative residual (batch mean)",
               title=f"Forward solvers, {args.device} {args.dtype}")
        ax.legend()
    emit(args.json, figures, rows, ["solver", "mean iters", "converged", "final rel res", "wall ms"])


if __name__ == "__main__":
    main()
