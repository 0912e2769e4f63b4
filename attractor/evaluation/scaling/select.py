"""Choosing one answer per puzzle from its K particles, and scoring every choice on the same particles.

Selectors (all from ``attractor.particles.selection``, the implementation the LM decoder uses):
``majority`` (most frequent grid), ``lowest_energy[E]`` (the grid of the lowest-energy particle),
``gibbs[E|w]`` (the grid whose particles carry the most weight w(E): exp(-beta E), E^-p, or
uniform, which is majority vote computed through the weighted vote). ``proposal`` is particle 0
(the model's own trajectory, when particle 0 is the unperturbed proposal). ``verifier`` takes the
first particle whose grid passes the task's checker (Sudoku rules and givens; a valid shortest maze
path): it uses an external check the other selectors do not have, so it is an upper bound only.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from attractor.particles.selection import lowest_energy, majority_vote, weighted_vote
from attractor.particles.weights import WeightSpec
from attractor.stats import wilson_interval


@dataclass
class Cloud:
    """The particles of every puzzle at one depth, (items, K) per field, particle 0 first."""

    answers: list[list[str]]  # each particle's predicted grid, as a string key
    correct: torch.Tensor  # bool: the grid solves the puzzle
    cells: torch.Tensor  # float64: fraction of the scored cells (Sudoku: blanks) the grid gets right
    valid: torch.Tensor  # bool: the grid passes the verifier
    iterations: torch.Tensor  # evaluations of f each solve used
    residual: torch.Tensor  # relative residual ||f(z) - z|| / ||f(z)|| reached
    energies: dict[str, torch.Tensor]  # float64


@dataclass(frozen=True, eq=False)
class Method:
    """One selector with the energy and weighting it uses (None where it uses none); hashed by
    identity, since a weighting's parameters are a dict."""

    selector: str
    energy: str | None = None
    weighting: WeightSpec | None = None

    @property
    def label(self) -> str:
        if self.selector == "gibbs":
            w = self.weighting
            return f"gibbs[{w.label}]" if not w.uses_energy else f"gibbs[{self.energy}|{w.label}]"
        return f"{self.selector}[{self.energy}]" if self.energy else self.selector


def methods(energies: Sequence[str], weightings: Sequence[WeightSpec]) -> list[Method]:
    """Every method scored, in a stable order: baselines, lowest energy, Gibbs votes, verifier last."""
    out = [Method("proposal"), Method("majority")] + [Method("lowest_energy", e) for e in energies]
    for w in weightings:
        out += [Method("gibbs", e, w) for e in energies] if w.uses_energy else [Method("gibbs", None, w)]
    return out + [Method("verifier")]


def pick(method: Method, answers: list[str], energies: dict[str, torch.Tensor], valid: torch.Tensor) -> int:
    """Index of a particle holding the chosen answer (the first one, so its correctness is known)."""
    if method.selector == "proposal":
        return 0
    if method.selector == "verifier":
        ok = valid.nonzero()
        return int(ok[0]) if len(ok) else 0
    if method.selector == "majority":
        answer = majority_vote(answers)
    elif method.selector == "lowest_energy":
        answer = lowest_energy(answers, energies[method.energy].tolist())
    else:
        e = energies[method.energy] if method.energy else torch.zeros(len(answers), dtype=torch.float64)
        answer = weighted_vote(answers, method.weighting(e))
    return answers.index(answer)


def choices(cloud: Cloud, k: int, all_methods: Sequence[Method]) -> dict[Method, torch.Tensor]:
    """Per method, the (items,) index of the particle it picks among each puzzle's first k."""
    chosen = {m: torch.zeros(len(cloud.answers), dtype=torch.long) for m in all_methods}
    for i, answers in enumerate(cloud.answers):
        energies = {name: values[i, :k] for name, values in cloud.energies.items()}
        for m in all_methods:
            chosen[m][i] = pick(m, answers[:k], energies, cloud.valid[i, :k])
    return chosen


def accuracy(hits: torch.Tensor, cells: torch.Tensor | None = None) -> dict[str, object]:
    """Exact accuracy with its Wilson 95% interval; with ``cells`` (each item's fraction of scored
    cells right) also the mean cell accuracy, the signal left when hardly any grid is exactly right."""
    correct, n = int(hits.sum()), len(hits)
    row = {"correct": correct, "n": n, "accuracy": correct / n, "ci95": list(wilson_interval(correct, n))}
    return row if cells is None else {**row, "cell_accuracy": cells.double().mean().item()}


def breadth_rows(cloud: Cloud, ks: Sequence[int], all_methods: Sequence[Method], depth: str) -> list[dict[str, object]]:
    """One row per (K, method) at this depth; ``fevals`` is the mean total evaluations of f per
    puzzle over its K solves, the x axis of the equal-compute comparison; ``distinct_answers``, the
    mean number of different grids among the K, says whether the particles explored at all."""
    rows = []
    for k in ks:
        fevals = cloud.iterations[:, :k].sum(dim=1).double().mean().item()
        distinct = sum(len(set(a[:k])) for a in cloud.answers) / len(cloud.answers)
        for m, idx in choices(cloud, k, all_methods).items():
            hits, cells = (v.gather(1, idx[:, None])[:, 0] for v in (cloud.correct, cloud.cells))
            rows.append({"k": k, "depth": depth, "mean_iterations": cloud.iterations[:, :k].double().mean().item(),
                         "fevals": fevals, "distinct_answers": distinct, "method": m.label, "selector": m.selector, "energy": m.energy,
                         "weighting": m.weighting.label if m.weighting else None,
                         "upper_bound": m.selector == "verifier", **accuracy(hits, cells)})
    return rows
