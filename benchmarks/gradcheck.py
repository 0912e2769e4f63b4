"""Gradient accuracy of each backward mode against a long unrolled reference.

At initialisation (default): a small attractor model in float64 with a contractive map (gated
residual, small gate); parameter gradients of one cross-entropy loss by `implicit`, `neumann`,
`phantom` and `last_k` are compared with `unrolled` through many iterations (cosine similarity and
relative error), and with `implicit` (``*_vs_implicit``).

At a trained checkpoint (``--ckpt PATH``): the gradient the run trains with (its backward mode, its
solver budget and tolerance) against backpropagation through a converged unrolled solve at the
checkpoint's weights, per parameter group, on a batch of the run's validation split, both in
float64. The reference counts only if its solve converged (``health.reference``, to a relative
residual of 1e-8): a map that no longer contracts has no unrolled gradient to check against.
``--solver KEY=VALUE`` checks another setting at the same weights (e.g. ``backward=implicit``).

    python -m benchmarks.gradcheck --json docs/results/gradcheck.json
    python -m benchmarks.gradcheck --ckpt outputs/RUN/checkpoints/last.ckpt --json outputs/RUN/gradcheck.json
    python -m benchmarks.gradcheck --ckpt ... --solver backward=implicit --solver adjoint_clip=false
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/X.py`: put the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collections import defaultdict
from dataclasses import replace

import torch
import torch.nn.functional as F
import yaml

from attractor import build_model
from attractor.evaluation.checkpoint import load_checkpoint
from attractor.solvers.health import summarise_health
from attractor.tasks.harness import build_datamodule
from benchmarks.common import emit, parser

MODEL = dict(name="attractor", vocab_size=11, max_len=16, dim=32, n_heads=4, backbone_layers=1, f_layers=1,
             gate_init=0.1)
MODES = {
    "unrolled": dict(backward="unrolled", max_iter=200, tol=0.0),
    "implicit": dict(backward="implicit", max_iter=60, tol=1e-12, b_tol=1e-12, b_max_iter=60),
    "neumann": dict(backward="neumann", max_iter=60, tol=1e-12),
    "phantom": dict(backward="phantom", max_iter=60, tol=1e-12, phantom_steps=5, phantom_tau=0.5),
    "last_k": dict(backward="last_k", max_iter=60, tol=1e-12, last_k=2),
}


def parameter_gradient(solver: dict, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(0)
    model = build_model({**MODEL, "solver": solver}).double()
    loss = F.cross_entropy(model(tokens).logits.flatten(0, 1), targets.flatten())
    loss.backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def compare(grad: torch.Tensor, reference: torch.Tensor) -> tuple[float, float]:
    """Cosine similarity and relative error of ``grad`` against ``reference``."""
    return (F.cosine_similarity(grad, reference, dim=0).item(),
            ((grad - reference).norm() / reference.norm()).item())


def task_loss(logits: torch.Tensor, labels: torch.Tensor, causal: bool) -> torch.Tensor:
    """Mean cross-entropy over the labelled tokens (puzzles: label 0 is a given cell, unscored)."""
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100 if causal else 0)


def group_gradients(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Flattened gradients per parameter group (the first part of each parameter's name)."""
    parts = defaultdict(list)
    for name, p in model.named_parameters():
        if p.grad is not None:
            parts[name.split(".")[0]].append(p.grad.flatten())
    return {group: torch.cat(grads) for group, grads in parts.items()}


REFERENCE_TOL = 1e-8  # relative residual at which the float64 unrolled reference counts as converged


def checkpoint_gradcheck(ckpt: str, batch_size: int = 8, reference_iters: int = 1000,
                         solver: dict | None = None) -> dict:
    """The figures of ``--ckpt``: per group, cosine and relative error of the trained backward mode's
    gradient against the converged unrolled one, and both solves' health. ``solver``: solver fields
    to change first (another backward mode at the same weights)."""
    run, model, weights = load_checkpoint(ckpt, "raw", solver=solver)
    dm = build_datamodule(run)
    dm.setup("fit")
    batch = next(iter(torch.utils.data.DataLoader(dm.val_dataloader().dataset, batch_size=batch_size)))
    trained = replace(model.cfg.solver, jac_reg_weight=0.0, fp_correction=0)  # the task loss's gradient alone
    solvers = {"trained": trained,
               "reference": replace(trained, backward="unrolled", adjoint_clip=False, max_iter=reference_iters,
                                    tol=REFERENCE_TOL, stop_mode="rel", backward_warmup="none",
                                    backward_warmup_steps=0)}
    model = model.double().train()
    grads, health = {}, {}
    for key, cfg in solvers.items():
        model.zero_grad(set_to_none=True)
        model.cfg.solver = cfg
        out = model(batch["inputs"])
        task_loss(out.logits, batch["labels"], run.model.causal).backward()
        grads[key] = group_gradients(model)
        health[key] = {k: float(v) for k, v in summarise_health(out.solve).items()}
    figures = {"checkpoint": str(ckpt), "weights": weights, "backward": trained.backward, "dtype": "float64",
               "batch": batch_size, "trained_solver": {"max_iter": trained.max_iter, "tol": trained.tol},
               "reference_iters": reference_iters, "health": health, "groups": {}}
    for group, reference in grads["reference"].items():
        cosine, rel_error = compare(grads["trained"][group], reference)
        figures["groups"][group] = {"cosine": cosine, "rel_error": rel_error, "size": reference.numel()}
    flat = {k: torch.cat(list(g.values())) for k, g in grads.items()}
    figures["all"] = dict(zip(("cosine", "rel_error"), compare(flat["trained"], flat["reference"])))
    return figures


def main() -> None:
    p = parser(__doc__.splitlines()[0], "docs/results/gradcheck.json")
    p.add_argument("--ckpt", help="a trained checkpoint: check the gradient it trains with (see above)")
    p.add_argument("--batch", type=int, default=8, help="validation items in the --ckpt check")
    p.add_argument("--solver", action="append", default=[], metavar="KEY=VALUE",
                   help="--ckpt: a solver field to change first, e.g. backward=implicit (repeatable)")
    args = p.parse_args()
    if args.ckpt:
        overrides = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.solver)}
        figures = checkpoint_gradcheck(args.ckpt, args.batch, solver=overrides or None)
        rows = [[g, f"{r['cosine']:.6f}", f"{r['rel_error']:.2e}", r["size"]] for g, r in figures["groups"].items()]
        rows.append(["all", f"{figures['all']['cosine']:.6f}", f"{figures['all']['rel_error']:.2e}", ""])
        emit(args.json, figures, rows, ["group", "cosine", "rel_error", "parameters"])
        for key, h in figures["health"].items():
            print(f"{key}: converged {h['converged_frac']:.3f}, median residual {h['residual_p50']:.2e}, "
                  f"iterations {h['iterations_mean']:.1f}")
        return
    gen = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, 11, (4, 16), generator=gen)
    targets = torch.randint(0, 11, (4, 16), generator=gen)
    reference = parameter_gradient(MODES["unrolled"], tokens, targets)
    grads = {mode: parameter_gradient(MODES[mode], tokens, targets)
             for mode in ("implicit", "neumann", "phantom", "last_k")}
    figures, rows = {}, []
    for mode, grad in grads.items():
        cosine, rel_error = compare(grad, reference)
        cosine_imp, rel_error_imp = compare(grad, grads["implicit"])
        figures[mode] = {"cosine": cosine, "rel_error": rel_error,
                         "cosine_vs_implicit": cosine_imp, "rel_error_vs_implicit": rel_error_imp}
        rows.append([mode, f"{cosine:.6f}", f"{rel_error:.2e}", f"{cosine_imp:.6f}", f"{rel_error_imp:.2e}"])
    figures["reference"] = {"mode": "unrolled", "iterations": MODES["unrolled"]["max_iter"], "dtype": "float64"}
    emit(args.json, figures, rows, ["mode", "cosine", "rel_error", "cosine vs implicit", "rel_error vs implicit"])


if __name__ == "__main__":
    main()
