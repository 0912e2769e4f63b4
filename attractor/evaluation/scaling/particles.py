"""Particles for test-time scaling: K initial latents per puzzle, each solved to its own equilibrium.

A particle is one solve of the model from one initial state: the attractor's z (the proposal z0 is
the backbone's output), the looped model's loop state (the prelude's output), or the recursive
reasoners' packed latents [y, z] (their initial latents; with ``random`` noise of scale 1 the K starts
are EqR's ``different_init`` draws). For TRM a depth of N is N cycles; for TRM-DEQ, N evaluations
of its map per solve. Depth is the
iteration budget of each solve (``N`` evaluations of f, or ``"halt"``: adaptive, stopping when the
residual ||f(z) - z|| is below a tolerance); breadth is the number K of initial states.

Rows are item-major: rows ``i*K .. i*K+K-1`` are puzzle i's particles. Particle 0 is the
unperturbed proposal when ``include_proposal`` is on, so K = 1 is the model's own trajectory.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import nn

from attractor.config import require
from attractor.models import Attractor, Looped, Recursive, SequenceModel
from attractor.models.output import ModelOutput

Depth = int | Literal["halt"]
NoiseKind = Literal["none", "gaussian", "random", "dropout"]


@dataclass
class NoiseConfig:
    """How the K initial states of a puzzle differ."""

    kind: NoiseKind = "gaussian"  # none | gaussian: z0 + s*rms*eps | random: s*rms*eps | dropout: z0 at rate s
    scale: float = 0.5  # s: noise std relative to the proposal's RMS, or the backbone's dropout rate

    def __post_init__(self) -> None:
        require(self.scale >= 0, "scale", f"must be >= 0, got {self.scale}")
        require(self.kind != "dropout" or self.scale < 1, "scale", f"a dropout rate must be < 1, got {self.scale}")


@dataclass(frozen=True)
class Halting:
    """Adaptive halting: stop a solve once its residual (the checkpoint's stop mode) is below ``tol``."""

    tol: float
    max_iter: int


def check_scalable(model: nn.Module) -> SequenceModel:
    """Only models with a latent to iterate have depth and breadth; say so for the others."""
    if not isinstance(model, (Attractor, Looped, Recursive)):
        raise TypeError(f"test-time scaling needs an attractor or looped checkpoint (or trm, trm_deq); a {type(model).__name__} "
                        f"has no latent state to iterate or perturb")
    return model


def depth_label(depth: Depth, halting: Halting) -> str:
    return f"iters={depth}" if depth != "halt" else f"halt(tol={halting.tol:g},max={halting.max_iter})"


@torch.no_grad()
def proposal(model: SequenceModel, tokens: torch.Tensor) -> torch.Tensor:
    """The state a solve starts from by default: the attractor's z0, the looped model's prelude output,
    the recursive reasoners' initial latents (``none`` runs no cycle)."""
    return model(tokens, mode="none").state


@torch.no_grad()
def initial_states(model: SequenceModel, tokens: torch.Tensor, k: int, noise: NoiseConfig, item_ids: Sequence[int],
                   seed: int, include_proposal: bool = True) -> torch.Tensor:
    """(B*K, T, D) initial states, item-major.

    Gaussian and random noise come from a generator seeded per (seed, item), so a puzzle's
    particles do not depend on how puzzles are chunked into batches. Dropout masks come from the
    global RNG (seeded per call), so they do.
    """
    z0 = proposal(model, tokens)
    if noise.kind == "dropout":
        with torch.random.fork_rng(devices=[z0.device] if z0.is_cuda else []), backbone_dropout(model, noise.scale):
            torch.manual_seed(seed * 1_000_003 + int(item_ids[0]))
            states = proposal(model, tokens.repeat_interleave(k, dim=0)).view(len(z0), k, *z0.shape[1:])
    else:
        states = z0.unsqueeze(1).repeat(1, k, 1, 1)
        if noise.kind in ("gaussian", "random"):
            eps = torch.stack([_item_noise(seed, int(i), (k, *z0.shape[1:])) for i in item_ids]).to(z0)
            rms = z0.pow(2).mean(dim=(1, 2)).sqrt().view(-1, 1, 1, 1)
            states = (states if noise.kind == "gaussian" else 0) + noise.scale * rms * eps
    if include_proposal:
        states[:, 0] = z0
    return states.flatten(0, 1)


def _item_noise(seed: int, item: int, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed * 1_000_003 + item))


@contextmanager
def backbone_dropout(model: SequenceModel, rate: float) -> Iterator[None]:
    """Dropout at ``rate`` in the backbone's (or prelude's) residual branches only, for perturbed
    proposals; the map f, the readout and attention stay deterministic."""
    if isinstance(model, Recursive):
        raise ValueError("dropout noise perturbs a backbone; trm and trm_deq have none: use noise kind random or gaussian")
    part = model.backbone if isinstance(model, Attractor) else model.prelude
    drops = [m for m in part.modules() if isinstance(m, nn.Dropout)]
    saved = [(m.p, m.training) for m in drops]
    try:
        for m in drops:
            m.p = rate
            m.train()
        yield
    finally:
        for m, (p, training) in zip(drops, saved):
            m.p = p
            m.train(training)


@contextmanager
def halting(model: SequenceModel, halt: Halting) -> Iterator[None]:
    """The attractor's adaptive solve with the scaling run's tolerance and budget, restored after."""
    if not isinstance(model, Attractor):
        raise ValueError("adaptive halting needs an attractor: looped and recursive models run fixed cycle counts")
    saved = model.cfg.solver
    model.cfg.solver = replace(saved, tol=halt.tol, max_iter=halt.max_iter)
    try:
        yield
    finally:
        model.cfg.solver = saved


@torch.no_grad()
def solve_particles(model: SequenceModel, tokens: torch.Tensor, states: torch.Tensor, depth: Depth,
                    halt: Halting) -> ModelOutput:
    """Solve every particle from its own initial state; ``tokens`` holds one row per particle.

    With a fixed depth each particle's solve is independent of the others in the batch. With
    ``"halt"`` the batch stops when all particles are below tolerance (each keeps its
    lowest-residual iterate and counts the iterations until it first got there).
    """
    if depth == "halt":
        with halting(model, halt):
            return model(tokens, mode="solver", return_trace=True, state=states)
    return model(tokens, mode=f"iters={depth}", return_trace=True, state=states)


def latent_map(model: SequenceModel, tokens: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """f for these puzzles, as a function of the latent alone (the Jacobian diagnostics need it):
    the attractor map at the backbone's context, or the looped core with its input injection."""
    with torch.no_grad():
        return model.latent_map(tokens)
