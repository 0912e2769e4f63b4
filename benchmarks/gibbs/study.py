"""Gibbs-basin decoding judged fairly: settings chosen on dev, the test set scored once (issue 15).

Every method at every K reads the first K particles of the same clouds (``analysis.correct_vs_k``),
so all comparisons are paired: exact McNemar tests (binomial on the discordant questions) and a
paired percentile bootstrap (one set of resampled questions shared by every method at a K).

The choices are made on dev only: the model's strength (:func:`pick_snapshot`: the training
snapshot whose dev greedy accuracy is nearest a target inside the paper's regime), the sampling
temperature, then, per K, the Gibbs variant (energy x kernel: exp(-beta E) at each beta of the
grid, or 1/E^2) with the best dev accuracy. :func:`score_test` receives that choice and never
feeds the test outcome back into it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from attractor.decoding.analysis import correct_vs_k, energy_auroc, particle_energies
from attractor.particles.weights import WeightSpec
from attractor.stats import auroc, paired_sign_test

Rows = list[dict[str, bool]]
"""Per question, whether each method is right (one dict per question, in record order)."""

GREEDY_RANGE = (0.60, 0.90)
"""Greedy accuracy of a model in the claim's regime (the paper's Phi-3.5 answers 84.7% of GSM8K
greedily): below it voting has too few right particles to gather, above it too few errors to fix."""


def pick_snapshot(accuracies: Mapping[int, float], target: float,
                  allowed: tuple[float, float] = GREEDY_RANGE) -> dict[str, Any]:
    """The training step whose dev greedy accuracy is nearest ``target``, among the steps inside
    ``allowed`` (inclusive) when there are any, else among all (``in_range`` false); ties go to the
    earlier step. ``accuracies``: step -> dev greedy accuracy of that snapshot."""
    if not accuracies:
        raise ValueError("pick_snapshot: no snapshots to choose from")
    lo, hi = allowed
    if not 0 <= lo <= target <= hi <= 1:
        raise ValueError(f"target_greedy: {target} must lie in the allowed range [{lo}, {hi}] within [0, 1]")
    inside = {s: a for s, a in accuracies.items() if lo <= a <= hi}
    pool = inside or accuracies
    # rounding: |0.7 - 0.75| and |0.8 - 0.75| are a tie, not 0.04999... < 0.05000...
    step = min(pool, key=lambda s: (round(abs(pool[s] - target), 9), s))
    return {"step": step, "dev_greedy": accuracies[step], "in_range": bool(inside), "target": target,
            "range": [lo, hi],
            "rule": f"the snapshot whose dev greedy accuracy is nearest {target} among those in [{lo}, {hi}] "
                    f"(if none is, nearest overall); ties: the earlier step"}


def gibbs_candidates(rows: Rows) -> list[str]:
    """The energy-weighted Gibbs methods among a table's methods (``gibbs[uniform]`` is majority)."""
    return [m for m in rows[0] if m.startswith("gibbs[") and "|" in m]


def accuracy(rows: Rows, method: str) -> float:
    if method not in rows[0]:
        raise KeyError(f"method {method!r} not scored; valid: {', '.join(rows[0])}")
    return sum(row[method] for row in rows) / len(rows)


def best_gibbs(rows: Rows) -> tuple[str, float]:
    """The Gibbs variant with the highest accuracy (ties: the first in method order)."""
    candidates = gibbs_candidates(rows)
    if not candidates:
        raise ValueError("no energy-weighted Gibbs method was scored: configure energies and weights")
    accs = [accuracy(rows, m) for m in candidates]
    i = int(np.argmax(accs))
    return candidates[i], accs[i]


def choose_on_dev(dev: Mapping[float, Sequence[Mapping[str, Any]]], ks: Sequence[int],
                  weightings: Sequence[WeightSpec]) -> dict[str, Any]:
    """From dev records per temperature: the temperature whose dev-best Gibbs variant is most
    accurate on average over ``ks`` (ties: the first temperature given), and at that temperature
    the Gibbs label chosen at each K. Returns the choice and every dev accuracy behind it."""
    if not dev:
        raise ValueError("choose_on_dev: no dev runs")
    tables = {t: correct_vs_k(records, ks, weightings) for t, records in dev.items()}
    best = {t: {k: best_gibbs(rows) for k, rows in table.items()} for t, table in tables.items()}
    score = {t: float(np.mean([acc for _, acc in per_k.values()])) for t, per_k in best.items()}
    temperature = max(score, key=score.__getitem__)
    return {
        "temperature": temperature,
        "labels": {k: best[temperature][k][0] for k in ks},
        "dev_mean_best_gibbs": score,
        "dev_accuracy": {t: {k: {m: accuracy(rows, m) for m in rows[0]} for k, rows in table.items()}
                         for t, table in tables.items()},
        "n_dev": len(next(iter(dev.values()))),
    }


def paired_bootstrap(rows: Rows, methods: Sequence[str], n_resamples: int = 2000, seed: int = 0) -> dict[str, list[float]]:
    """Percentile 95% interval of each method's accuracy, resampling questions with replacement;
    the same resamples serve every method, as the questions pair them."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(rows), size=(n_resamples, len(rows)))
    out = {}
    for m in methods:
        hits = np.array([row[m] for row in rows], dtype=float)
        lo, hi = np.percentile(hits[idx].mean(axis=1), [2.5, 97.5])
        out[m] = [float(lo), float(hi)]
    return out


def mcnemar(rows: Rows, method: str, baseline: str) -> dict[str, Any]:
    """Exact McNemar test of ``method`` against ``baseline``: questions only it gets right (wins),
    only the baseline gets right (losses), and the two-sided binomial p on those."""
    wins, losses, p = paired_sign_test([row[method] for row in rows], [row[baseline] for row in rows])
    return {"wins": wins, "losses": losses, "p": p}


def score_test(records: Sequence[Mapping[str, Any]], ks: Sequence[int], weightings: Sequence[WeightSpec],
               choice: Mapping[str, Any], n_resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """The test block of the results JSON: greedy, then per K majority, the dev-chosen Gibbs
    variant with its McNemar p against majority and greedy, pass@K, and every method's accuracy
    with a bootstrap interval and both tests; AUROC of each energy and of the confidence."""
    k_max = min(len(r["particles"]) for r in records)
    bad = [k for k in ks if k > k_max]
    if bad:
        raise ValueError(f"ks: {bad} exceed the {k_max} particles sampled per question")
    missing = [k for k in ks if k not in choice["labels"]]
    if missing:
        raise KeyError(f"labels: the dev choice has no Gibbs label for K = {missing}")
    out: dict[str, Any] = {"n_test": len(records), "temperature": choice["temperature"], "k": {}}
    for k, rows in correct_vs_k(records, ks, weightings).items():
        label = choice["labels"][k]
        intervals = paired_bootstrap(rows, list(rows[0]), n_resamples, seed)
        methods = {m: {"acc": accuracy(rows, m), "ci95": intervals[m], "vs_majority": mcnemar(rows, m, "majority"),
                       "vs_greedy": mcnemar(rows, m, "greedy")} for m in rows[0]}
        out["greedy"], out["greedy_ci95"] = methods["greedy"]["acc"], methods["greedy"]["ci95"]
        out["k"][str(k)] = {
            "majority": methods["majority"]["acc"],
            "gibbs_dev_choice": {"label": label, **methods[label]},
            "mcnemar_p_vs_majority": methods[label]["vs_majority"]["p"],
            "mcnemar_p_vs_greedy": methods[label]["vs_greedy"]["p"],
            "pass_at_k": methods["pass@k"]["acc"],
            "deepconf": methods["deepconf"]["acc"] if "deepconf" in methods else None,
            "methods": methods,
        }
    out["auroc"] = particle_auroc(records)
    return out


def particle_auroc(records: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """AUROC for a correct particle of -E for each energy (above 0.5: low energy goes with right
    answers) and of the DeepConf lowest-window confidence (high confidence with right answers)."""
    out = energy_auroc(records)
    parts = [p for r in records for p in r["particles"]]
    if parts and all("confidence" in p for p in parts):
        out["deepconf_confidence"] = auroc([p["confidence"] for p in parts], [p["correct"] for p in parts])
    return out


def particle_stats(records: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """How the clouds look: fraction of right particles, of particles without an answer, mean
    length and distinct answers per question."""
    parts = [p for r in records for p in r["particles"]]
    _, correct = particle_energies(records)
    return {
        "particle_accuracy": float(correct.mean()),
        "no_answer_fraction": sum(p["answer"] is None for p in parts) / len(parts),
        "mean_tokens": float(np.mean([p["n_tokens"] for p in parts])),
        "distinct_answers_per_question": float(np.mean([len({p["answer"] for p in r["particles"]}) for r in records])),
    }


def render_tables(result: Mapping[str, Any], title: str) -> str:
    """Markdown tables of one model's test block: main methods per K, Gibbs variants at the
    largest K, McNemar tests of the dev choice, and AUROCs."""
    ks = list(result["k"])
    head = "| method | " + " | ".join(f"K={k}" for k in ks) + " |\n|---|" + "---|" * len(ks) + "\n"

    def cell(entry: Mapping[str, Any]) -> str:
        return "{:.1f} [{:.1f}, {:.1f}]".format(100 * entry["acc"], *(100 * x for x in entry["ci95"]))

    main = ["greedy", "majority", "deepconf", "pass@k"] + sorted(m for m in result["k"][ks[0]]["methods"] if m.startswith("best_of_n"))
    lines = [f"### {title}: test, {result['n_test']} problems, T = {result['temperature']}\n",
             "Accuracy, % [paired bootstrap 95% CI]\n", head.rstrip("\n")]
    for m in main:
        if m in result["k"][ks[0]]["methods"]:
            lines.append(f"| {m} | " + " | ".join(cell(result["k"][k]["methods"][m]) for k in ks) + " |")
    lines.append("| **gibbs (dev choice)** | " + " | ".join(cell(result["k"][k]["gibbs_dev_choice"]) for k in ks) + " |")
    lines += ["", "Dev-chosen Gibbs variant per K, and exact McNemar tests on test (wins/losses: questions only "
              "Gibbs / only the baseline gets right)\n", "| K | label | vs majority | vs greedy |", "|---|---|---|---|"]
    for k in ks:
        g = result["k"][k]["gibbs_dev_choice"]
        vm, vg = g["vs_majority"], g["vs_greedy"]
        lines.append(f"| {k} | {_cell_name(g['label'])} | {vm['wins']}/{vm['losses']}, p={vm['p']:.3g} | {vg['wins']}/{vg['losses']}, p={vg['p']:.3g} |")
    k_last = ks[-1]
    lines += ["", f"Every Gibbs variant at K={k_last} (test; the choice was made on dev)\n",
              "| method | acc % [95% CI] | vs majority (w/l, p) |", "|---|---|---|"]
    for m, entry in result["k"][k_last]["methods"].items():
        if m.startswith("gibbs["):
            vm = entry["vs_majority"]
            lines.append(f"| {_cell_name(m)} | {cell(entry)} | {vm['wins']}/{vm['losses']}, p={vm['p']:.2g} |")
    lines += ["", "AUROC for a correct particle (test particles)\n", "| signal | AUROC |", "|---|---|"]
    lines += [f"| {name} | {'n/a (one class)' if value is None or value != value else f'{value:.3f}'} |"
              for name, value in result["auroc"].items()]
    return "\n".join(lines) + "\n"


def _cell_name(method: str) -> str:
    """A method name inside a Markdown table cell (names such as gibbs[nll|...] hold a pipe)."""
    return method.replace("|", "\\|")
