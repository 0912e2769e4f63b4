"""Peak memory of one training step against effective depth: attractor (implicit) vs looped (BPTT).

Equal width; effective depth d = d evaluations of a one-block map for the attractor (tol 0, so the
solver runs all d) and d loops of a one-block core for the looped model.

    python -m benchmarks.memory --json docs/results/memory_cpu.json
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/X.py`: put the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from attractor import build_model
from benchmarks.common import emit, parser, peak_memory_bytes

DEPTHS = (4, 8, 16, 32, 64)


def model_config(kind: str, depth: int, dim: int, seq_len: int) -> dict:
    common = dict(vocab_size=11, max_len=seq_len, dim=dim, n_heads=4)
    if kind == "attractor":
        return dict(name="attractor", backbone_layers=1, f_layers=1, solver=dict(max_iter=depth, tol=0.0), **common)
    return dict(name="looped", prelude_layers=1, core_layers=1, loops=depth, **common)


def main() -> None:
    p = parser(__doc__.splitlines()[0], "docs/results/memory_cpu.json")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=81)
    p.add_argument("--depths", type=int, nargs="+", default=list(DEPTHS), help="iterations (attractor) / loops (looped)")
    args = p.parse_args()
    dtype = getattr(torch, args.dtype)
    figures: dict = {"attractor": {}, "looped": {}}
    for kind in figures:
        for depth in args.depths:
            torch.manual_seed(0)
            model = build_model(model_config(kind, depth, args.dim, args.seq_len)).to(args.device, dtype)
            tokens = torch.randint(0, 11, (args.batch, args.seq_len), device=args.device)

            def step() -> None:
                model.zero_grad(set_to_none=True)
                model(tokens).logits.float().logsumexp(-1).mean().backward()

            step()  # warm-up: allocator caches and lazy state
            figures[kind][str(depth)] = peak_memory_bytes(step, args.device)
    first, last = str(args.depths[0]), str(args.depths[-1])
    ratios = {k: figures[k][last] / figures[k][first] for k in figures}
    figures[f"ratio_{last}_over_{first}"] = ratios
    figures["setup"] = dict(device=args.device, dtype=args.dtype, dim=args.dim, batch=args.batch, seq_len=args.seq_len,
                            gpu=torch.cuda.get_device_name() if args.device.startswith("cuda") else None)
    rows = [[d, f"{figures['attractor'][str(d)] / 2**20:.1f}", f"{figures['looped'][str(d)] / 2**20:.1f}"]
            for d in args.depths]
    rows.append([f"{last}/{first}", f"{ratios['attractor']:.2f}x", f"{ratios['looped']:.2f}x"])
    emit(args.json, figures, rows, ["depth", "attractor MiB", "looped MiB"])


if __name__ == "__main__":
    main()
