"""Figures of a decoding run: accuracy vs K, energy histograms, energy AUROCs."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from attractor.decoding.analysis import accuracy_vs_k, energy_auroc, particle_energies  # noqa: E402
from attractor.particles.plots import plot_energy_histograms  # noqa: E402
from attractor.particles.weights import WeightSpec  # noqa: E402


def plot_accuracy_vs_k(curves: Mapping[str, Mapping[int, float]], path: Path) -> None:
    """One line per method; line style marks the family (baselines dashed, best-of-N dotted)."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    cmap = plt.get_cmap("tab20")
    for i, (method, curve) in enumerate(sorted(curves.items())):
        ks = sorted(curve)
        style = ":" if method.startswith("best_of_n") else "-" if method.startswith("gibbs") else "--"
        ax.plot(ks, [curve[k] for k in ks], style, marker="o", color=cmap(i % 20), label=method)
    all_ks = sorted({k for c in curves.values() for k in c})
    ax.set_xscale("log", base=2)
    ax.set_xticks(all_ks, [str(k) for k in all_ks])
    ax.set(xlabel="K (particles)", ylabel="accuracy", title="Accuracy vs K (same particles for every method)")
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_energy_auroc(aurocs: Mapping[str, float], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    names = list(aurocs)
    ax.bar(names, [aurocs[n] for n in names])
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.set(ylim=(0, 1), ylabel="AUROC of -E for a correct particle", title="Energy as a correctness signal")
    ax.tick_params(axis="x", labelrotation=20, labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_run(records: Sequence[Mapping[str, Any]], weightings: Sequence[WeightSpec], out_dir: str | Path) -> dict[str, Any]:
    """Write the three figures into ``out_dir`` and return the numbers behind them."""
    out_dir = Path(out_dir)
    k = min(len(r["particles"]) for r in records)
    ks = sorted({1, 2, 4, 8, 16, k} & set(range(1, k + 1)))
    curves = accuracy_vs_k(records, ks, weightings)
    aurocs = energy_auroc(records)
    plot_accuracy_vs_k(curves, out_dir / "accuracy_vs_k.png")
    plot_energy_histograms(*particle_energies(records), out_dir / "energy_histograms.png")
    plot_energy_auroc(aurocs, out_dir / "energy_auroc.png")
    return {"accuracy_vs_k": curves, "energy_auroc": aurocs}
