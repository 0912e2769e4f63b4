"""TRM, the tiny recursive reasoner: two latents refined by one small net, answer read from one.

The latents are the answer y and the reasoning z. A cycle is ``l_cycles`` reasoning updates
z <- net(z + y + x) and then one answer update y <- net(y + z); a forward (one deep-supervision
segment) runs ``h_cycles`` cycles, the first T - 1 without gradients, and reads the answer out of
y. ``state`` carries both latents between segments, packed along channels as [y, z] (B, L, 2D), so
deep supervision and test-time breadth (evaluation/scaling/) treat it like any other latent.

net(u) = RMSNorm(blocks(u)): our pre-norm blocks with the output normalised, so the latents keep
one scale over hundreds of applications (the reference gets the same from post-norm blocks).
Input embeddings are scaled by sqrt(dim) from an init of std 1/sqrt(dim), as in the reference, so x
has the latents' unit scale. The Q-head reads the answer latent (mean over positions) and predicts
whether the answer is exactly right (``stats["q_halt"]``, logits): ACT halting, see tasks/puzzle.py.

EqR-style options (``RecursiveConfig``): damped updates h <- (1 - lambda) h + lambda net(.), Gaussian
noise on every update in training (and at evaluation only with ``eval_noise``), random initial
latents N(0, init_std^2) so that different starts can reach different attractors (evaluation draws
them from a generator seeded by ``init_seed``, so a checkpoint scores the same every time).

Inference modes: ``solver`` (``h_cycles`` cycles), ``iters=N`` (N cycles), ``none`` (no cycle: the
answer latent as it came in). ``stats["iterations"]`` counts applications of the net.
"""
from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from attractor.models.base import SequenceModel
from attractor.models.config import RecursiveConfig, TRMConfig, parse_inference_mode
from attractor.models.output import ModelOutput
from attractor.nn import Block, BlockStack, RMSNorm
from attractor.nn.block import MixerBlock
from attractor.solvers.health import concat_rows

Tensor = torch.Tensor


class Recursive(SequenceModel):
    """What TRM and TRM-DEQ share; a subclass says how z is updated within a cycle (``reason``)."""

    carries_state = True  # a segment runs more cycles from the carried latents

    def __init__(self, cfg: RecursiveConfig):
        super().__init__(cfg)
        block = partial(MixerBlock, seq_len=cfg.max_len) if cfg.mixer == "mlp" else Block
        self.blocks = BlockStack(cfg.block, cfg.n_layers, block)
        self.net_norm = RMSNorm(cfg.dim)
        self.q_head = nn.Linear(cfg.dim, 1)
        init = nn.init.trunc_normal_(torch.empty(2 * cfg.dim), std=cfg.init_std, a=-2 * cfg.init_std, b=2 * cfg.init_std)
        if cfg.latent_init == "learned":
            self.latent_init = nn.Parameter(init)
        else:  # fixed (a draw kept with the weights), or unused (random)
            self.register_buffer("latent_init", init)
        self.init_weights(cfg.n_layers)
        nn.init.normal_(self.embedding.weight, std=1 / math.sqrt(cfg.dim))
        nn.init.zeros_(self.q_head.weight)  # starts predicting "not solved" (sigmoid(-5)), as the reference
        nn.init.constant_(self.q_head.bias, -5.0)

    # -- the pieces of a cycle -------------------------------------------------------------------
    def net(self, u: Tensor, rope) -> Tensor:
        return self.net_norm(self.blocks(u, rope))

    def noisy(self, h: Tensor) -> Tensor:
        """EqR's training noise on an updated latent (at evaluation only with ``eval_noise``)."""
        if self.cfg.noise_std and (self.training or self.cfg.eval_noise):
            return h + self.cfg.noise_std * torch.randn_like(h)
        return h

    def damped(self, h: Tensor, new: Tensor) -> Tensor:
        lam = self.cfg.damping
        return new if lam == 1.0 else (1 - lam) * h + lam * new

    def update(self, h: Tensor, new: Tensor) -> Tensor:
        return self.noisy(self.damped(h, new))

    def reason(self, z: Tensor, context: Tensor, rope, parsed) -> tuple[Tensor, dict[str, Tensor]]:
        """The reasoning latent after one cycle's updates, given context = y + x; and statistics
        (``evaluations`` of the net, per sample, plus whatever the subclass reports)."""
        raise NotImplementedError

    def cycles(self, parsed) -> int:
        return self.cfg.h_cycles

    def cycle(self, y: Tensor, z: Tensor, x: Tensor, rope, parsed) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        z, info = self.reason(z, y + x, rope, parsed)
        y = self.update(y, self.net(y + z, rope))
        return y, z, info

    # -- latents ---------------------------------------------------------------------------------
    def initial_state(self, x: Tensor) -> Tensor:
        """[y0, z0] (B, L, 2D): the fixed or learned initial latents at every position, or a fresh
        N(0, init_std^2) draw (seeded by ``init_seed`` at evaluation)."""
        batch, length, dim = x.shape
        if self.cfg.latent_init != "random":
            return self.latent_init.to(x.dtype).expand(batch, length, 2 * dim)
        generator = None if self.training else torch.Generator().manual_seed(self.cfg.init_seed)
        draw = torch.randn((batch, length, 2 * dim), generator=generator)
        return (self.cfg.init_std * draw).to(x)

    def inputs(self, tokens: Tensor):
        if self.cfg.mixer == "mlp" and tokens.shape[1] != self.cfg.max_len:
            raise ValueError(f"a token-mixing MLP needs sequences of exactly max_len={self.cfg.max_len}, "
                             f"got {tokens.shape[1]}")
        x, rope = self.embed(tokens)
        return x * math.sqrt(self.cfg.dim), rope

    def latent_map(self, tokens: Tensor):
        """One cycle for these tokens as a function of the packed state alone (diagnostics, scaling)."""
        x, rope = self.inputs(tokens)
        parsed = parse_inference_mode(self.cfg.inference)

        def step(state: Tensor) -> Tensor:
            y, z = state.chunk(2, dim=-1)
            y, z, _ = self.cycle(y, z, x, rope, parsed)
            return torch.cat((y, z), dim=-1)
        return step

    def forward(self, tokens: Tensor, mode: str | None = None, return_trace: bool = False,
                state: Tensor | None = None) -> ModelOutput:
        """``state``: the packed latents to continue from (deep supervision), else the initial ones."""
        parsed = parse_inference_mode(mode or ("solver" if self.training else self.cfg.inference))
        x, rope = self.inputs(tokens)
        h = self.initial_state(x) if state is None else state
        y, z = h.chunk(2, dim=-1)
        cycles = self.cycles(parsed)
        evaluations = torch.zeros(tokens.shape[0], dtype=torch.long, device=tokens.device)
        trace, info, diverged, solves = [], {}, None, []
        for i in range(cycles):
            with torch.set_grad_enabled(torch.is_grad_enabled() and i == cycles - 1):
                prev = torch.cat((y, z), dim=-1).detach()
                y, z, info = self.cycle(y, z, x, rope, parsed)
            new = torch.cat((y, z), dim=-1).detach()
            trace.append((new - prev).flatten(1).norm(dim=1))
            evaluations = evaluations + info.pop("evaluations") + 1
            solves.append(info.pop("solve", None))
            if "diverged" in info:  # any cycle's solve went non-finite
                diverged = info["diverged"] if diverged is None else diverged | info["diverged"]
                info["diverged"] = diverged
        stats = {"iterations": evaluations, **info,
                 "q_halt": self.q_head(y.mean(dim=1)).squeeze(-1).float()}
        if trace:
            stats["abs_residual"] = trace[-1]
            stats["rel_residual"] = trace[-1] / (new.flatten(1).norm(dim=1) + 1e-9)
            if return_trace:
                stats["residual_trace"] = torch.stack(trace, dim=1)
        return ModelOutput(self.readout(y), stats, state=torch.cat((y, z), dim=-1).detach(), solve=concat_rows(solves))


class TRM(Recursive):
    """Reasoning by ``l_cycles`` explicit updates z <- net(z + y + x) per cycle."""

    cfg: TRMConfig

    def cycles(self, parsed) -> int:
        return 0 if parsed == "none" else (parsed or self.cfg.h_cycles)

    def reason(self, z: Tensor, context: Tensor, rope, parsed) -> tuple[Tensor, dict[str, Tensor]]:
        for _ in range(self.cfg.l_cycles):
            z = self.update(z, self.net(z + context, rope))
        return z, {"evaluations": self.cfg.l_cycles}
