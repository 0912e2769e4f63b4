"""Graph breaks of a training step under ``torch.compile``, per model and backward mode, with their causes.

Two units are explained with ``torch._dynamo.explain`` (it traces without compiling, so it runs on a
CPU in seconds):

- ``block``: one Transformer block, the unit ``train.compile=true`` compiles
  (``attractor.tasks.harness.compile_blocks``); every block of every model is this class;
- ``forward``: the whole training forward (model and loss), what compiling the step as one graph
  would capture. Attractor variants run the fixed-iteration solve (``solver.stop_every=0``: no stop
  test reading a value back) and, as ``.../adaptive``, the default adaptive one for contrast.

Each break is listed with dynamo's reason and the line of our code it came from. ``--time`` also
times a training step eager against ``compile_blocks`` (interleaved rounds, medians; CPU inductor).

    python -m benchmarks.graph_breaks --json docs/results/graph_breaks_cpu.json
    python benchmarks/graph_breaks.py --models attractor/neumann --time
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
import torch._dynamo
import torch.nn.functional as F

from attractor import build_model
from attractor.nn import Block
from attractor.tasks.harness import compile_blocks
from benchmarks.common import emit, parser

VOCAB = 65
MODES = ("neumann", "last_k", "implicit", "phantom", "unrolled")


def configs(dim: int, seq_len: int) -> dict[str, dict[str, Any]]:
    shared = dict(vocab_size=VOCAB, max_len=seq_len, dim=dim, n_heads=4, causal=True)
    out: dict[str, dict[str, Any]] = {
        "transformer": dict(name="transformer", n_layers=2, **shared),
        "looped": dict(name="looped", prelude_layers=1, core_layers=1, loops=2, coda_layers=1, **shared),
    }
    for mode in MODES:
        solver = dict(max_iter=8, tol=1e-3, backward=mode, last_k=2, phantom_steps=2, b_max_iter=4)
        out[f"attractor/{mode}"] = dict(name="attractor", backbone_layers=1, f_layers=1,
                                        solver=dict(solver, stop_every=0), **shared)
        out[f"attractor/{mode}/adaptive"] = dict(name="attractor", backbone_layers=1, f_layers=1, solver=solver,
                                                 **shared)
    out["trm_deq"] = dict(name="trm_deq", n_layers=1, h_cycles=2, **{**shared, "causal": False},
                          solver=dict(max_iter=6, backward="last_k", last_k=2, stop_every=0))
    return out


def forward_loss(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    out = model(tokens[:, :-1])
    loss = F.cross_entropy(out.logits.flatten(0, 1), tokens[:, 1:].flatten())
    return loss if out.aux_loss is None else loss + out.aux_loss


def ours(frame: str) -> bool:
    return "/attractor/" in frame and "site-packages" not in frame


def explain(fn, *args) -> dict[str, Any]:
    """Dynamo's graph and break counts for fn(*args), each break with its reason and our frame."""
    torch._dynamo.reset()
    result = torch._dynamo.explain(fn)(*args)
    breaks = []
    for reason in result.break_reasons:
        frames = [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reason.user_stack if ours(f.filename)]
        breaks.append({"reason": reason.reason.splitlines()[0][:300], "where": frames[-1] if frames else None})
    return {"graphs": result.graph_count, "graph_breaks": result.graph_break_count, "breaks": breaks}


def step_seconds(model: torch.nn.Module, opt: torch.optim.Optimizer, tokens: torch.Tensor) -> float:
    start = time.perf_counter()
    loss = forward_loss(model, tokens)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return time.perf_counter() - start


def timing(cfg: dict[str, Any], tokens: torch.Tensor, rounds: int) -> dict[str, float]:
    """Eager against compile_blocks: a step of each per round, medians and the median paired ratio."""
    steppers = {}
    for kind in ("eager", "compiled"):
        torch.manual_seed(0)
        model = build_model(cfg).train()
        if kind == "compiled":
            compile_blocks(model)
        steppers[kind] = (model, torch.optim.AdamW(model.parameters(), lr=1e-4))
    warm = {kind: sum(step_seconds(*s, tokens) for _ in range(2)) for kind, s in steppers.items()}
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(rounds):
        for kind, s in steppers.items():
            times[kind].append(step_seconds(*s, tokens))
    return {"eager_step_s": statistics.median(times["eager"]), "compiled_step_s": statistics.median(times["compiled"]),
            "compiled_over_eager": statistics.median(c / e for c, e in zip(times["compiled"], times["eager"])),
            "compile_warmup_s": warm["compiled"]}


def main() -> None:
    p = parser(__doc__.splitlines()[0], "docs/results/graph_breaks_cpu.json")
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=32)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--models", nargs="+", help="subset of the variants (default: all)")
    p.add_argument("--time", action="store_true", help="also time eager against compile_blocks")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    variants = configs(args.dim, args.seq_len)
    names = args.models or list(variants)
    tokens = torch.randint(0, VOCAB, (args.batch, args.seq_len + 1), generator=torch.Generator().manual_seed(0))
    figures: dict[str, Any] = {}
    rows = []
    for name in names:
        torch.manual_seed(0)
        model = build_model(variants[name]).train()
        block = next(m for m in model.modules() if isinstance(m, Block))
        x = torch.randn(args.batch, args.seq_len, args.dim)
        rope = model.rotary(args.seq_len) if getattr(model, "rotary", None) is not None else None
        f = {"block": explain(block, x, rope), "forward": explain(lambda t: forward_loss(model, t), tokens)}
        if args.time:
            f["timing"] = timing(variants[name], tokens, args.rounds)
        figures[name] = f
        rows.append([name, f["block"]["graph_breaks"], f["forward"]["graph_breaks"],
                     "; ".join(sorted({f"{b['where']}: {b['reason'][:70]}" for b in f["forward"]["breaks"]}))[:160]])
        print(*rows[-1], flush=True)
    figures["setup"] = dict(dim=args.dim, seq_len=args.seq_len, batch=args.batch, torch=torch.__version__,
                            threads=torch.get_num_threads(), configs={n: variants[n] for n in names})
    emit(args.json, figures, rows, ["variant", "block breaks", "forward breaks", "causes (forward)"])


if __name__ == "__main__":
    main()
