"""Energies of an equilibrium: lower is meant to mean a more trustworthy particle.

Each energy maps a batch of solved particles to one number per particle:

- ``residual``: the relative fixed-point residual ||f(z) - z|| / ||f(z)|| the solve reached.
- ``nll``: mean over the scored cells of -log p(predicted token): how unsure the readout is of
  the grid it outputs (the decoding module's length-normalised ``nll``).
- ``entropy``: mean over the scored cells of the readout's predictive entropy (``token_entropy``).
- ``spectral_radius``: largest |eigenvalue| of J_f at z* by power iteration: a sharp, unstable
  basin has a radius near (or above) 1, a wide flat one a small radius.
- ``jacobian_frobenius``: Hutchinson estimate of ||J_f(z*)||_F^2 / dim, the same sharpness in
  the Frobenius norm (cheaper and smoother than the radius).
- ``q_halt``: -log sigmoid(q), q the Q-head's logit (trm, trm_deq): minus the log-probability the
  model gives its answer being exactly right, so the lowest energy is the particle it trusts most.
  Non-negative, so every weighting applies (E^-p needs E >= 0), and exp(-beta E) = sigmoid(q)^beta.
- ``trajectory_spectral_entropy``: the decoding module's ``psd_spectral_entropy`` of the
  per-iteration signal log ||f(z_t) - z_t|| (the solve's residual trace): a steady geometric decay
  concentrates its power at low frequencies (low entropy), an erratic trajectory spreads it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from attractor.particles.energies import nll, psd_spectral_entropy, token_entropy
from attractor.evaluation.scaling.particles import latent_map
from attractor.models import SequenceModel
from attractor.models.output import ModelOutput
from attractor.solvers import hutchinson_frobenius, spectral_radius

ENERGIES = ("residual", "nll", "entropy", "spectral_radius", "jacobian_frobenius", "trajectory_spectral_entropy",
            "q_halt")
# Energies every scalable model has (q_halt needs a Q-head): the scaling config's default.
UNIVERSAL_ENERGIES = ENERGIES[:-1]


def check_energies(names: Sequence[str]) -> None:
    unknown = [n for n in names if n not in ENERGIES]
    if unknown:
        raise ValueError(f"unknown energies {unknown}; valid: {', '.join(ENERGIES)}")


def readout_energies(logits: torch.Tensor, scored: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-particle (nll, entropy) of the argmax grid over the scored cells (blanks, open cells)."""
    logp = torch.log_softmax(logits.double(), dim=-1)
    chosen = logp.max(dim=-1).values
    ent = -(logp.exp() * logp).sum(dim=-1)
    rows = range(len(logits))
    return (torch.tensor([nll(chosen[i][scored[i]]) for i in rows]),
            torch.tensor([token_entropy(ent[i][scored[i]]) for i in rows]))


def trajectory_spectral_entropy(residual_trace: torch.Tensor) -> torch.Tensor:
    """Per-particle spectral entropy of the log residual trace (B, iterations)."""
    signal = residual_trace.double().clamp(min=1e-30).log()
    return torch.tensor([psd_spectral_entropy(row) for row in signal])


def sharpness(f: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, kind: str, power_iters: int,
              probes: int) -> torch.Tensor:
    """Per-particle sharpness of the basin at z*: spectral radius or Hutchinson ||J||_F^2 / dim."""
    if kind == "spectral_radius":
        return spectral_radius(f, z, iters=power_iters)
    with torch.enable_grad():
        z = z.detach().requires_grad_()
        return hutchinson_frobenius(f(z), z, samples=probes, create_graph=False).detach()


def equilibrium_energies(names: Sequence[str], model: SequenceModel, tokens: torch.Tensor, out: ModelOutput,
                         scored: torch.Tensor, power_iters: int = 20, probes: int = 4) -> dict[str, torch.Tensor]:
    """Every requested energy of every particle (one row of ``tokens`` per particle), on the CPU."""
    check_energies(names)
    energies: dict[str, torch.Tensor] = {}
    if "residual" in names:
        energies["residual"] = out.stats["rel_residual"].double()
    if "nll" in names or "entropy" in names:
        energies["nll"], energies["entropy"] = readout_energies(out.logits, scored)
    if "q_halt" in names:
        if "q_halt" not in out.stats:
            raise ValueError(f"energy q_halt needs a model with a Q-head (trm, trm_deq), not a {type(model).__name__}")
        energies["q_halt"] = torch.nn.functional.softplus(-out.stats["q_halt"].double())  # -log sigmoid(q)
    if "trajectory_spectral_entropy" in names:
        energies["trajectory_spectral_entropy"] = trajectory_spectral_entropy(out.stats["residual_trace"])
    for kind in ("spectral_radius", "jacobian_frobenius"):
        if kind in names:
            energies[kind] = sharpness(latent_map(model, tokens), out.state, kind, power_iters, probes).double()
    return {name: energies[name].cpu() for name in names}
