"""The attractor model: a backbone proposes z0, a solver settles z* = f(z*, c), the head reads z* out.

The map f(z, c) is ``f_layers`` blocks applied to the injection z + c, in one of two forms:
- ``gated_residual`` (default): f(z, c) = c + g * (B(z + c) - (z + c)), with B the blocks and g a
  per-channel gate in (0, 1), small at init. The fixed point is the context plus a bounded update,
  so the proposal z0 = c starts near it: the form under which removing the solver can cost little.
- ``gated_sublayers``: f(z, c) = B_g(z + c) - z, with B_g the blocks whose attention and MLP outputs
  each carry a per-channel gate sigmoid(.) * gate_max, initialised at ``gate_init``: the reference
  code's map (jacobfa/Attractor, FPHead(y + c) - y). Also c plus a bounded update, but the gates act
  inside the stack, so the second block sees the first block's gated output.
- ``normed``: f(z, c) = RMSNorm(B(z + c)), the classic deep-equilibrium form with a bounded state.

Initialisation (``init``, every model's option: ``SequenceModel.init_weights``): ``gpt2`` or the
reference's ``scaled``, over the backbone and map blocks' depth.

Inference modes (``mode`` argument, else ``cfg.inference`` in eval, adaptive ``solver`` in training):
``solver`` runs to tolerance, ``iters=N`` runs exactly N iterations, ``none`` reads out z0 directly
and never calls the solver: the equilibrium-internalization ablation.

Causal models are solved per position (each position is its own solver problem), so no solver
statistic mixes information across positions; with ``iters=N`` they are exactly causal, and with
the adaptive stop only the stopping step is shared (its effect is below the tolerance).

Incremental decoding (``cache=model.init_cache()``): earlier positions' fixed points do not depend
on later tokens, so a new position is solved alone, attending to the cached keys and values of the
backbone and of the map's blocks at the earlier positions' fixed points (appended after each solve
by one more evaluation of the blocks at z*). With ``none`` this is the full-sequence computation
exactly (up to float rounding). With the solver the full-sequence solve iterates every position
together, so earlier positions' keys move during it and converge to those at their fixed points:
the two agree within the solver's tolerance (exactly at the fixed point). With ``iters=N`` the
cached path gives each new position N iterations against converged-in-N earlier positions, which
differs from the joint N-iteration solve by that solve's remaining residual.

The map's blocks are built without dropout: a map that changed at every evaluation would have no
fixed point to converge to, and the backward modes would differentiate another f than the forward
solved. Dropout (``dropout``) acts in the backbone. (The reference code puts its map blocks in eval mode
during the solve to the same end.)

Training losses beyond the task's (``ModelOutput.aux_loss``, in training only):
- the Jacobian penalty ``jac_reg_weight * mean ||J_f||_F^2 / (n * dim)`` (n: features per solver
  row), the reference's normalisation;
- the proposal loss ``proposal_weight * mean_b ||z0_b - sg(z*_b)||^2 / ||sg(z*_b)||^2``: pulls the
  proposal toward the fixed point (equilibrium internalization); the only signal a ``linear``
  proposal gets, since z* does not depend on z0 under the implicit, phantom and last-K gradients.
"""
from __future__ import annotations

import math
import random
from contextlib import contextmanager, nullcontext
from dataclasses import replace

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.utils import parametrizations, parametrize

from attractor.models.base import SequenceModel
from attractor.models.cache import DecodeCache
from attractor.models.config import AttractorConfig, parse_inference_mode
from attractor.models.output import ModelOutput
from attractor.nn import BlockStack, KVCache, RMSNorm
from attractor.solvers import solve
from attractor.solvers.health import solve_rows


class Attractor(SequenceModel):
    def __init__(self, cfg: AttractorConfig):
        super().__init__(cfg)
        self.backbone = BlockStack(cfg.block, cfg.backbone_layers)
        self.proposal = nn.Linear(cfg.dim, cfg.dim, bias=False) if cfg.proposal == "linear" else None
        sublayer_gates = cfg.gate_init if cfg.map == "gated_sublayers" else None
        self.f_blocks = BlockStack(replace(cfg.block, dropout=0.0, gate_init=sublayer_gates, gate_max=cfg.gate_max),
                                   cfg.f_layers)
        if cfg.map == "gated_residual":
            self.gate_logit = nn.Parameter(torch.full((cfg.dim,), math.log(cfg.gate_init / (1 - cfg.gate_init))))
        elif cfg.map == "normed":
            self.f_out_norm = RMSNorm(cfg.dim)
        depth = cfg.backbone_layers + cfg.f_layers
        self.init_weights(depth)
        if self.proposal is not None:
            nn.init.eye_(self.proposal.weight)
        if cfg.f_norm != "none":
            normalise = parametrizations.weight_norm if cfg.f_norm == "weight" else parametrizations.spectral_norm
            for module in self.f_blocks.modules():
                if isinstance(module, nn.Linear):
                    normalise(module)

    def attractor_map(self, z: torch.Tensor, c: torch.Tensor, rope,
                      cache: list[KVCache] | None = None) -> torch.Tensor:
        """f(z, c): one application of the attractor module; ``cache``: the map blocks' keys and values
        at earlier positions' fixed points (read, never appended to: see ``forward``)."""
        u = z + c
        blocks = self.f_blocks(u, rope, cache, append=False)
        if self.cfg.map == "gated_residual":
            return c + torch.sigmoid(self.gate_logit) * (blocks - u)
        if self.cfg.map == "gated_sublayers":
            return blocks - z
        return self.f_out_norm(blocks)

    def latent_map(self, tokens: torch.Tensor):
        """f(., c) for these tokens as a function of the latent (B, T, D) alone: for diagnostics
        (Jacobians at z*) and test-time scaling, which solve from other starting points."""
        x, rope = self.embed(tokens)
        c = self.backbone(x, rope)
        return lambda z: self.attractor_map(z, c, rope)

    def forward(self, tokens: torch.Tensor, mode: str | None = None, return_trace: bool = False,
                state: torch.Tensor | None = None, cache: DecodeCache | None = None) -> ModelOutput:
        """``state``: a latent to start the solve from (deep supervision), else the proposal z0.
        ``cache``: decode incrementally (``init_cache``; see the module docstring)."""
        if cache is not None and state is not None:
            raise ValueError("state and cache exclude each other: a cached decode solves from the proposal")
        mode = mode or ("solver" if self.training else self.cfg.inference)
        parsed = parse_inference_mode(mode)
        x, rope = self.embed_cached(tokens, cache, mode)
        c = self.backbone(x, rope, None if cache is None else cache.layers("backbone", len(self.backbone)))
        proposal = self.proposal(c) if self.proposal is not None else c
        z0 = proposal if state is None else state
        if parsed == "none":
            zeros = torch.zeros(tokens.shape[0], dtype=torch.long, device=tokens.device)
            return ModelOutput(self.readout(z0), {"iterations": zeros}, state=z0.detach())
        batch, seq_len, dim = z0.shape
        # The solver's batch axis: samples (bidirectional) or sample-positions (causal).
        rows = batch * seq_len if self.cfg.causal else batch

        f_cache = None if cache is None else cache.layers("f_blocks", len(self.f_blocks))

        solver_cfg = self.cfg.solver
        penalise = self.training and solver_cfg.jac_reg_weight > 0 and random.random() < solver_cfg.jac_reg_freq

        def f(z_rows: torch.Tensor) -> torch.Tensor:
            # The penalty differentiates twice and only the math attention kernel has a double
            # backward: the evaluations with gradients take it, the no-grad solve keeps the fast one.
            kernel = sdpa_kernel(SDPBackend.MATH) if penalise and torch.is_grad_enabled() else nullcontext()
            with kernel:
                return self.attractor_map(z_rows.reshape(batch, seq_len, dim), c, rope, f_cache).reshape(rows, -1)

        with self._normalised_weights():
            eq = solve(f, z0.reshape(rows, -1), solver_cfg, iters=parsed, return_trace=return_trace,
                       jacobian_penalty=penalise, samples=batch)
            if f_cache is not None:  # the new positions' keys and values at their fixed points
                with torch.no_grad():
                    self.f_blocks(eq.z.reshape(batch, seq_len, dim) + c, rope, f_cache, append=True)
        stats = _per_sample(eq.stats, batch) if self.cfg.causal else eq.stats
        z = eq.z.reshape(batch, seq_len, dim)
        corrections = [self.readout(zc.reshape(batch, seq_len, dim)) for zc in eq.corrections]
        losses = []
        if eq.jacobian_penalty is not None:  # per-element estimate / width: the reference's normalisation
            losses.append(solver_cfg.jac_reg_weight * eq.jacobian_penalty.mean() / dim)
            stats["jacobian_frobenius"] = eq.jacobian_penalty.detach().reshape(batch, -1).mean(dim=1)
        if self.training and self.cfg.proposal_weight > 0:
            losses.append(self.cfg.proposal_weight * proposal_loss(proposal, z))
        return ModelOutput(self.readout(z), stats, aux_loss=sum(losses) if losses else None, state=z.detach(),
                           solve=solve_rows(eq.stats, solver_cfg), corrections=corrections)

    def _normalised_weights(self):
        """Compute f's normalised weights once per forward, with their graph, and reuse them.

        Every iteration then sees the same f (spectral norm's power iteration would otherwise change
        f between iterations), and the weights are built while gradients are on, not inside the
        solver's no-grad loop. Without weight normalisation a plain ``nullcontext``, which a compiled
        graph resumes inside after a break (it cannot inside a generator's context manager).
        """
        return nullcontext() if self.cfg.f_norm == "none" else self._cached_weights()

    @contextmanager
    def _cached_weights(self):
        with parametrize.cached():
            for module in self.f_blocks.modules():
                if isinstance(module, nn.Linear):
                    module.weight  # noqa: B018 - materialise the cached parametrisation here
            yield


def proposal_loss(proposal: torch.Tensor, z_star: torch.Tensor) -> torch.Tensor:
    """mean_b ||z0_b - sg(z*_b)||^2 / ||sg(z*_b)||^2: relative, so its weight does not depend on the
    latent's scale; the fixed point is a target, not moved by this loss."""
    target = z_star.detach().flatten(1)
    gap = (proposal.flatten(1) - target).pow(2).sum(dim=1)
    return (gap / (target.pow(2).sum(dim=1) + 1e-9)).mean()


def _per_sample(stats: dict[str, torch.Tensor], batch: int) -> dict[str, torch.Tensor]:
    """Per-position statistics (B*T, ...) reduced to the worst position of each sample."""
    out = {}
    for key, value in stats.items():
        per_position = value.reshape(batch, -1, *value.shape[1:])
        if value.dtype == torch.bool:  # converged: every position; diverged: any position
            out[key] = per_position.any(dim=1) if key == "diverged" else per_position.all(dim=1)
        else:
            out[key] = per_position.max(dim=1).values
    return out
