"""Gradient accuracy of each backward mode against a long unrolled reference.

A small attractor model in float64 with a contractive map (gated residual, small gate); parameter
gradients of one cross-entropy loss by `implicit`, `neumann`, `phantom` and `last_k` are compared with
`unrolled` through many iterations (cosine similarity and relative error), and with `implicit`
(``*_vs_implicit``).

    python -m benchmarks.gradcheck --json docs/results/gradcheck.json
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/X.py`: put the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F

from attractor import build_model
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


def main() -> None:
    args = parser(__doc__.splitlines()[0], "docs/results/gradcheck.json").parse_args()
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
