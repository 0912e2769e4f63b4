"""Energies of one particle: pure functions of its per-token (or per-iteration) tensors.

Lower energy is meant to mean a more trustworthy particle for ``nll`` and ``token_entropy``; for the
two "spectral entropy" readings the sign of the relation to correctness is an open question, which
is why every energy is reported side by side with its AUROC. LM decoding reads them off sampled
trajectories (``attractor.decoding.energies``), puzzle test-time scaling off equilibria
(``attractor.evaluation.scaling.energies``).
"""
from __future__ import annotations

import math

import torch


def _nonempty(x: torch.Tensor, name: str) -> torch.Tensor:
    if x.numel() == 0 or x.shape[0] == 0:
        raise ValueError(f"{name}: trajectory has no tokens")
    return x.double()


def _normalised_entropy(mass: torch.Tensor) -> float:
    """Shannon entropy of ``mass / mass.sum()`` divided by log(len), so trajectories of any length
    share the scale [0, 1]; no mass or a single bin gives 0 (nothing to spread)."""
    total = mass.sum()
    if mass.numel() < 2 or total <= 0:
        return 0.0
    p = mass / total
    return float(torch.special.entr(p).sum() / math.log(mass.numel()))


def nll(logprobs: torch.Tensor) -> float:
    """Length-normalised negative log-likelihood of the sampled tokens (the reading the detailed
    account of the Gibbs paper gives)."""
    return float(-_nonempty(logprobs, "nll").mean())


def token_entropy(entropies: torch.Tensor) -> float:
    """Mean predictive entropy over the trajectory: how unsure the model was, whatever it drew."""
    return float(_nonempty(entropies, "token_entropy").mean())


def psd_spectral_entropy(signal: torch.Tensor) -> float:
    """Normalised entropy of the power spectrum of a per-token signal (the log-prob sequence).

    The signal is centred, its periodogram |FFT|^2 taken over all non-DC frequencies and the
    entropy divided by log(T - 1): a lone spike (white spectrum) gives 1, a pure oscillation 0,
    and a constant signal (no power at all) 0.
    """
    x = _nonempty(signal, "psd_spectral_entropy")
    power = torch.fft.fft(x - x.mean()).abs().pow(2)[1:]
    return _normalised_entropy(power)


def hidden_svd_entropy(hidden: torch.Tensor) -> float:
    """Normalised entropy of the singular values (divided by their sum) of the (T, H) matrix of one
    layer's hidden states: 0 when the trajectory stays in one direction, 1 when it spreads evenly
    over min(T, H) directions."""
    h = _nonempty(hidden, "hidden_svd_entropy")
    if h.dim() != 2:
        raise ValueError(f"hidden_svd_entropy: expected a (T, H) matrix, got shape {tuple(h.shape)}")
    return _normalised_entropy(torch.linalg.svdvals(h))


def solver_mean(values: torch.Tensor, name: str) -> float:
    """Mean over the trajectory's tokens of one per-token solver statistic (the attractor LM's
    relative residual at the fixed point, or the evaluations of f the solve took): a trajectory
    through positions the solver settles easily should be one the model is sure of."""
    return float(_nonempty(values, name).mean())


def lowest_window_confidence(confidences: torch.Tensor, window: int = 8) -> float:
    """DeepConf's "lowest group confidence" (Fu et al. 2025, arXiv 2508.15260, eq. 3-5): the
    minimum over sliding windows of ``window`` consecutive tokens of the mean token confidence
    (the whole trajectory when it is shorter). A trajectory is only as trustworthy as its
    weakest stretch; DeepConf uses it as the trajectory's vote weight."""
    c = _nonempty(confidences, "lowest_window_confidence")
    if window < 1:
        raise ValueError(f"lowest_window_confidence: window must be >= 1, got {window}")
    if c.numel() <= window:
        return float(c.mean())
    return float(c.unfold(0, window, 1).mean(-1).min())
