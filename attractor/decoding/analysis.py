"""Post-hoc analysis of a run's records: accuracy vs K and how well each energy flags correctness."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from attractor.particles.selection import select_all
from attractor.particles.weights import WeightSpec
from attractor.stats import auroc


def correct_at_k(record: Mapping[str, Any], k: int, weightings: Sequence[WeightSpec]) -> dict[str, bool]:
    """Whether each method (and ``pass@k``: some particle is right) is correct on one question when
    it sees only the first k particles; greedy does not depend on k."""
    parts = record["particles"][:k]
    answers = [p["answer"] for p in parts]
    energies = {e: [p["energies"][e] for p in parts] for e in parts[0]["energies"]}
    confidences = [p["confidence"] for p in parts] if all("confidence" in p for p in parts) else None
    picks = select_all(answers, energies, weightings, confidences)
    if "greedy" in record:
        picks["greedy"] = record["greedy"]["answer"]
    return {m: a == record["gold"] for m, a in picks.items()} | {"pass@k": any(p["correct"] for p in parts)}


def correct_vs_k(
    records: Sequence[Mapping[str, Any]], ks: Sequence[int], weightings: Sequence[WeightSpec]
) -> dict[int, list[dict[str, bool]]]:
    """Per k, :func:`correct_at_k` of every record (in record order, so methods pair up).

    Particles are drawn independently, so the first k are a sample of size k; all k share the
    same particles, which keeps the comparison across methods and across k paired.
    """
    k_max = min(len(r["particles"]) for r in records)
    bad = [k for k in ks if not 1 <= k <= k_max]
    if bad:
        raise ValueError(f"correct_vs_k: k must be in [1, {k_max}], got {bad}")
    return {k: [correct_at_k(r, k, weightings) for r in records] for k in ks}


def accuracy_vs_k(
    records: Sequence[Mapping[str, Any]], ks: Sequence[int], weightings: Sequence[WeightSpec]
) -> dict[str, dict[int, float]]:
    """Accuracy of every method using only the first k particles of each question, for each k."""
    curves: dict[str, dict[int, float]] = {}
    for k, rows in correct_vs_k(records, ks, weightings).items():
        for m in rows[0]:
            curves.setdefault(m, {})[k] = sum(row[m] for row in rows) / len(rows)
    return curves


def particle_energies(records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """All particles' energies (name -> array) and whether each particle's answer was correct."""
    parts = [p for r in records for p in r["particles"]]
    names = list(parts[0]["energies"]) if parts else []
    return {e: np.array([p["energies"][e] for p in parts]) for e in names}, np.array([p["correct"] for p in parts])


def energy_auroc(records: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """AUROC of -E as a signal that a particle is correct: above 0.5 means lower energy goes with
    correct answers, below 0.5 that the energy points the wrong way."""
    energies, correct = particle_energies(records)
    return {e: auroc(-values, correct) for e, values in energies.items()}
