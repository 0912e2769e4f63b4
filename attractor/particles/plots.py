"""The figure both decoders draw: each energy's histogram over right and wrong particles."""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from attractor.plotting import save_figure


def plot_energy_histograms(energies: Mapping[str, Sequence[float]], correct: Sequence[bool],
                           path: str | os.PathLike) -> None:
    """One panel per energy (values of every particle), right and wrong particles overlaid."""
    right = np.asarray(correct, dtype=bool)
    panels = max(1, len(energies))
    with save_figure(path, figsize=(4 * panels, 3.5), ncols=panels, squeeze=False) as (fig, axes):
        for ax, (name, values) in zip(axes[0], energies.items()):
            values = np.asarray(values, dtype=float)
            for mask, label in ((right, "correct"), (~right, "incorrect")):
                if mask.any():
                    ax.hist(values[mask], bins=30, alpha=0.6, density=True, label=label)
            ax.set(title=name, xlabel="energy")
            ax.legend(fontsize=7)
