"""Where a training step of the attractor goes: f evaluations, vector-Jacobian products, solver
overhead, backbone and readout, per backward mode, at the LM parity shape and the 6x6 Sudoku shape.

A step is forward, cross-entropy, backward and AdamW, timed with the model's parts wrapped by timers
(``Split``): the backbone (with the embedding), the forward solve (``forward_solve``, or the unrolled
iteration), every evaluation of the map f (inside the solve: no-grad; after it: the evaluations that
carry the gradient), every ``torch.autograd.grad`` (the vector-Jacobian products of the neumann and
implicit hooks, the Jacobian penalty's), the readout with the loss, the backward and the optimiser.
Solver overhead is the forward solve's time outside f: Anderson's mixing and least squares, the
residuals, stop tests and bookkeeping. The **overhead ratio** is forward-solve time / (evaluations x
time of one f evaluation), the latter timed alone at the solve's shape (median of ``--f-repeats``),
so 1.0 means the solve costs only its evaluations of f.

Shapes (``--shapes``): ``lm``, the parity shape of benchmarks/parity.py (``model=attractor_ref
solver=reference_lm``, width 64, 4 heads, 2 + 2 blocks, Tiny Shakespeare batch 16 x 128, the batch of
step s drawn as parity.py draws it); ``sudoku``, train.py's default run (``model=attractor_ref
solver=contractive`` on 6x6 Sudoku, batch 64 x 36, random boards; its Jacobian penalty's double
backward is part of its step). Extra Hydra overrides (``--overrides solver.stop_scope=sample``) apply
to both. Figures are medians over ``--steps`` timed steps after ``--warmup``; the model trains on as it
is timed, so iteration counts are those of its first steps.

    python -m benchmarks.time_split --json docs/results/time_split_cpu.json
    python benchmarks/time_split.py --shapes lm --modes neumann --steps 5
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from attractor.compose import compose
from attractor.models import build_model
from attractor.models.attractor import Attractor
from attractor.solvers import equilibrium
from benchmarks.common import emit, parser
from benchmarks.parity import DEFAULT_TEXT, char_data, train_batch

MODES = ("neumann", "implicit", "last_k", "phantom", "unrolled")
SHAPES = {
    "lm": dict(overrides=["task=lm", "task.vocab_size=65", "task.seq_len=128", "model=attractor_ref",
                          "solver=reference_lm", "model.dim=64", "model.n_heads=4", "model.backbone_layers=2",
                          "model.f_layers=2"], batch=16),
    "sudoku": dict(overrides=[], batch=64),
}
MODE_OPTIONS = {"neumann": [], "implicit": ["solver.adjoint_clip=false"], "last_k": ["solver.adjoint_clip=false"],
                "phantom": ["solver.adjoint_clip=false"], "unrolled": ["solver.adjoint_clip=false"]}


def no_sync() -> None:
    """CPU work is done when the call returns; on a GPU pass ``torch.cuda.synchronize``."""


class Split:
    """Seconds and calls per part of one step, keyed by ``name()`` when the part's wrapper returns;
    ``sync`` runs before each clock reading (a GPU's queued kernels finish first)."""

    def __init__(self, sync: Callable[[], None] = no_sync) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.phase = "forward"
        self.solving = False
        self.sync = sync

    def timed(self, name: Callable[[], str], fn: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            self.sync()
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.sync()
                key = name()
                self.seconds[key] += time.perf_counter() - start
                self.calls[key] += 1
        return wrapper


@contextmanager
def instrumented(model: Attractor, split: Split):
    """Wrap the model's parts and the solver's entry points with ``split``'s timers."""
    def solving(fn):
        def wrapper(*args, **kwargs):
            split.solving = True
            try:
                return fn(*args, **kwargs)
            finally:
                split.solving = False
        return wrapper

    f_name = lambda: "f_in_solve" if split.solving else f"f_grad_{split.phase}"
    with ExitStack() as stack:
        for attr in ("forward_solve", "unrolled_iteration"):
            original = getattr(equilibrium, attr)
            stack.enter_context(mock.patch.object(equilibrium, attr, split.timed(lambda: "solve", solving(original))))
        stack.enter_context(mock.patch.object(torch.autograd, "grad",
                                              split.timed(lambda: f"autograd_grad_{split.phase}", torch.autograd.grad)))
        stack.enter_context(mock.patch.object(model, "attractor_map", split.timed(f_name, model.attractor_map)))
        stack.enter_context(mock.patch.object(model.backbone, "forward", split.timed(lambda: "backbone",
                                                                                     model.backbone.forward)))
        stack.enter_context(mock.patch.object(model, "embed", split.timed(lambda: "embed", model.embed)))
        yield


def one_f_seconds(model: Attractor, tokens: torch.Tensor, repeats: int, sync: Callable[[], None]) -> float:
    """Median time of one no-grad evaluation of f at the solve's shape (z = the proposal)."""
    with torch.no_grad():
        x, rope = model.embed(tokens)
        c = model.backbone(x, rope)
        model.attractor_map(c, c, rope)
        times = []
        for _ in range(repeats):
            sync()
            start = time.perf_counter()
            model.attractor_map(c, c, rope)
            sync()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def step(model: Attractor, opt: torch.optim.Optimizer, tokens: torch.Tensor, targets: torch.Tensor,
         split: Split) -> dict[str, float]:
    """One timed training step; the parts' seconds and counts."""
    clock = lambda: (split.sync(), time.perf_counter())[1]
    t0 = clock()
    split.phase = "forward"
    out = model(tokens)
    t1 = clock()
    loss = F.cross_entropy(out.logits.flatten(0, 1).float(), targets.flatten())
    if out.aux_loss is not None:
        loss = loss + out.aux_loss
    t2 = clock()
    split.phase = "backward"
    opt.zero_grad(set_to_none=True)
    loss.backward()
    t3 = clock()
    opt.step()
    t4 = clock()
    return {"step_s": t4 - t0, "forward_s": t1 - t0, "loss_s": t2 - t1, "backward_s": t3 - t2,
            "optimizer_s": t4 - t3, "iterations_mean": float(out.stats["iterations"].float().mean())}


def measure(shape: str, mode: str, args, batches: Callable[[int], tuple[torch.Tensor, torch.Tensor]]) -> dict[str, Any]:
    cfg = compose([*SHAPES[shape]["overrides"], f"solver.backward={mode}", *MODE_OPTIONS[mode], *args.overrides])
    node = OmegaConf.to_container(cfg.model, resolve=True)
    node["solver"] = OmegaConf.to_container(cfg.solver, resolve=True)
    torch.manual_seed(0)
    model = build_model(node).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    return split_steps(model, opt, batches, args.warmup, args.steps, args.f_repeats) | {"solver": node["solver"]}


def split_steps(model: Attractor, opt: torch.optim.Optimizer, batches: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
                warmup: int, steps: int, f_repeats: int, sync: Callable[[], None] = no_sync) -> dict[str, float]:
    """Medians over ``steps`` instrumented training steps (after ``warmup``) of every part's seconds,
    the evaluation counts and the overhead ratio."""
    rows: list[dict[str, float]] = []
    for i in range(warmup + steps):
        split = Split(sync)
        tokens, targets = batches(i)
        with instrumented(model, split):
            figures = step(model, opt, tokens, targets, split)
        if i < warmup:
            continue
        s, n = split.seconds, split.calls
        evals = n["f_in_solve"]
        t_f = one_f_seconds(model, tokens, f_repeats, sync)
        grad_f = s["f_grad_forward"]
        figures.update({
            "backbone_s": s["backbone"] + s["embed"], "solve_s": s["solve"], "solve_evaluations": evals,
            "f_in_solve_s": s["f_in_solve"], "one_f_s": t_f, "solver_overhead_s": s["solve"] - s["f_in_solve"],
            "overhead_ratio": s["solve"] / (evals * t_f) if evals else None,
            # the same with f timed inside the solve (load-proof on a shared machine: one interval)
            "overhead_ratio_in_solve": s["solve"] / s["f_in_solve"] if evals else None,
            "grad_f_evaluations": n["f_grad_forward"], "grad_f_s": grad_f,
            "vjp_calls_backward": n["autograd_grad_backward"], "vjp_backward_s": s["autograd_grad_backward"],
            "penalty_grad_forward_s": s["autograd_grad_forward"],
            # the forward outside backbone, solve and gradient evaluations: proposal, statistics, readout
            "readout_and_rest_forward_s": figures["forward_s"] - s["backbone"] - s["embed"] - s["solve"] - grad_f
                                          - s["autograd_grad_forward"] + figures["loss_s"],
            "backward_outside_vjp_s": figures["backward_s"] - s["autograd_grad_backward"],
        })
        rows.append(figures)
    keys = [k for k in rows[0] if rows[0][k] is not None]
    return {k: statistics.median(r[k] for r in rows) for k in keys}


def lm_batches(args) -> Callable[[int], tuple[torch.Tensor, torch.Tensor]]:
    train_ids, _, _ = char_data(args.text)
    return lambda i: train_batch(train_ids, 0, i, SHAPES["lm"]["batch"], 128)


def sudoku_batches(args) -> Callable[[int], tuple[torch.Tensor, torch.Tensor]]:
    gen = np.random.default_rng(0)
    boards = torch.from_numpy(gen.integers(2, 8, (args.warmup + args.steps, SHAPES["sudoku"]["batch"], 36)))
    return lambda i: (torch.where(torch.rand(boards[i].shape, generator=torch.Generator().manual_seed(i)) < 0.25,
                                  torch.ones_like(boards[i]), boards[i]), boards[i])


def main() -> None:
    p = parser(__doc__.splitlines()[0], "docs/results/time_split_cpu.json")
    p.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    p.add_argument("--overrides", nargs="*", default=[], help="Hydra overrides for both shapes")
    p.add_argument("--text", type=Path, default=DEFAULT_TEXT)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--f-repeats", type=int, default=5)
    args = p.parse_args()
    if args.device != "cpu" or args.dtype != "float32":
        p.error("this benchmark times float32 CPU steps (the GPU script is benchmarks/gpu_throughput.py)")
    batches = {"lm": lm_batches, "sudoku": sudoku_batches}
    figures: dict[str, Any] = {}
    rows = []
    for shape in args.shapes:
        make = batches[shape](args)
        for mode in args.modes:
            f = measure(shape, mode, args, make)
            figures[f"{shape}/{mode}"] = f
            rows.append([shape, mode, f"{f['step_s'] * 1e3:.0f}", f"{f['iterations_mean']:.1f}",
                         f"{f['solve_evaluations']}", f"{f['one_f_s'] * 1e3:.1f}", f"{f['solve_s'] * 1e3:.0f}",
                         f"{f['solver_overhead_s'] * 1e3:.0f}", f"{f.get('overhead_ratio') or float('nan'):.2f}",
                         f"{f.get('overhead_ratio_in_solve') or float('nan'):.2f}",
                         f"{f['vjp_backward_s'] * 1e3:.0f}", f"{f['backbone_s'] * 1e3:.0f}"])
            print(*rows[-1], flush=True)
    figures["setup"] = dict(threads=torch.get_num_threads(), torch=torch.__version__, warmup=args.warmup,
                            steps=args.steps, f_repeats=args.f_repeats, overrides=args.overrides,
                            command=" ".join(sys.argv))
    emit(args.json, figures, rows, ["shape", "mode", "step ms", "iters", "solve evals", "one f ms", "solve ms",
                                    "overhead ms", "overhead ratio", "in-solve ratio", "vjp ms", "backbone ms"])


if __name__ == "__main__":
    main()
