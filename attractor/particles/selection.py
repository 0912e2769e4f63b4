"""Answer selectors over one question's K particles.

Every selector ignores particles whose answer could not be extracted (``None``) and breaks ties
by the earliest particle, so the same particles give the same choice in every method.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import torch

from attractor.particles.weights import WeightSpec

Answer = str | None


def weighted_vote(answers: Sequence[Answer], weights: Sequence[float] | torch.Tensor) -> Answer:
    """Basin selection: the answer whose particles carry the most total weight."""
    if len(answers) != len(weights):
        raise ValueError(f"weighted_vote: {len(answers)} answers but {len(weights)} weights")
    totals: dict[str, float] = {}
    for a, w in zip(answers, [float(w) for w in weights]):
        if a is not None:
            totals[a] = totals.get(a, 0.0) + w
    return max(totals, key=totals.__getitem__) if totals else None


def majority_vote(answers: Sequence[Answer]) -> Answer:
    """Self-consistency: the most frequent answer (integer counts, independent of weighted_vote)."""
    counts = Counter(a for a in answers if a is not None)
    return max(counts, key=counts.__getitem__) if counts else None


def lowest_energy(answers: Sequence[Answer], energies: Sequence[float]) -> Answer:
    """Best-of-N: the answer of the single lowest-energy particle that has an answer."""
    if len(answers) != len(energies):
        raise ValueError(f"lowest_energy: {len(answers)} answers but {len(energies)} energies")
    scored = [(e, i) for i, (a, e) in enumerate(zip(answers, energies)) if a is not None]
    return answers[min(scored)[1]] if scored else None


def method_names(energies: Sequence[str], weightings: Sequence[WeightSpec], confidence: bool = False) -> list[str]:
    """The names ``select_all`` returns, in a stable order (``deepconf`` when given confidences)."""
    names = ["majority"] + [f"best_of_n[{e}]" for e in energies]
    for w in weightings:
        names += [f"gibbs[{e}|{w.label}]" for e in energies] if w.uses_energy else [f"gibbs[{w.label}]"]
    return names + (["deepconf"] if confidence else [])


def gibbs_weights(
    energies: Mapping[str, Sequence[float]], weightings: Sequence[WeightSpec], k: int
) -> dict[str, list[float]]:
    """Each Gibbs method's per-particle weights, keyed like ``method_names``."""
    out: dict[str, list[float]] = {}
    for w in weightings:
        if not w.uses_energy:
            out[f"gibbs[{w.label}]"] = w(torch.zeros(k)).tolist()
            continue
        for name, values in energies.items():
            out[f"gibbs[{name}|{w.label}]"] = w(torch.tensor(values, dtype=torch.float64)).tolist()
    return out


def select_all(
    answers: Sequence[Answer], energies: Mapping[str, Sequence[float]], weightings: Sequence[WeightSpec],
    confidences: Sequence[float] | None = None,
) -> dict[str, Answer]:
    """Every particle-based method's answer, all computed from the same particles (paired).

    ``confidences`` (each particle's DeepConf lowest-window confidence, ``energies.
    lowest_window_confidence``) adds ``deepconf``: DeepConf's confidence-weighted majority vote
    (Fu et al. 2025, arXiv 2508.15260), over all K particles (its top-eta filtering is not applied)."""
    picks: dict[str, Answer] = {"majority": majority_vote(answers)}
    for name, values in energies.items():
        picks[f"best_of_n[{name}]"] = lowest_energy(answers, values)
    for method, w in gibbs_weights(energies, weightings, len(answers)).items():
        picks[method] = weighted_vote(answers, w)
    if confidences is not None:
        picks["deepconf"] = weighted_vote(answers, confidences)
    return picks
