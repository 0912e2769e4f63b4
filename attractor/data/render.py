"""Show a puzzle, its reference and a prediction side by side, as text or PNG, wrong cells marked.

Works on model tokens for either puzzle: pass the alphabet that maps ``token - 1`` to a
character (Sudoku: ``".123456789"[:n+1]``, Maze: ``"# SGo"``).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from attractor.io import atomic_path

SUDOKU_ALPHABET = ".123456789"
MAZE_ALPHABET = "# SGo"
_MAZE_COLOURS = {"#": "#333333", " ": "#ffffff", "S": "#2e7d32", "G": "#1565c0", "o": "#f9a825"}


def _chars(tokens: np.ndarray, alphabet: str) -> list[str]:
    return [alphabet[t - 1] if 1 <= t <= len(alphabet) else "?" for t in np.asarray(tokens).tolist()]


def _grids(inputs, labels, pred, alphabet):
    grids = [("puzzle", _chars(inputs, alphabet), None)]
    if labels is not None:
        grids.append(("reference", _chars(labels, alphabet), None))
    if pred is not None:
        wrong = None if labels is None else np.asarray(pred) != np.asarray(labels)
        grids.append(("prediction", _chars(pred, alphabet), wrong))
    return grids


def render_text(inputs: np.ndarray, labels: np.ndarray | None = None, pred: np.ndarray | None = None,
                alphabet: str = SUDOKU_ALPHABET) -> str:
    """Grids side by side; a wrong predicted cell is followed by ``!`` instead of a space."""
    grids = _grids(inputs, labels, pred, alphabet)
    side = int(round(len(inputs) ** 0.5))
    header = "   ".join(name.ljust(2 * side) for name, _, _ in grids)
    lines = [header.rstrip()]
    for r in range(side):
        parts = []
        for _, chars, wrong in grids:
            cells = chars[r * side:(r + 1) * side]
            marks = ["!" if wrong is not None and wrong[r * side + c] else " " for c in range(side)]
            parts.append("".join(ch + m for ch, m in zip(cells, marks)))
        lines.append("   ".join(parts).rstrip())
    return "\n".join(lines)


def render_png(path: str | os.PathLike, inputs: np.ndarray, labels: np.ndarray | None = None,
               pred: np.ndarray | None = None, alphabet: str = SUDOKU_ALPHABET, title: str | None = None) -> Path:
    """Save a PNG of the grids; wrong predicted cells get a red frame. Returns the path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    grids = _grids(inputs, labels, pred, alphabet)
    side = int(round(len(inputs) ** 0.5))
    maze = alphabet == MAZE_ALPHABET
    fig, axes = plt.subplots(1, len(grids), figsize=(3.2 * len(grids), 3.4), squeeze=False)
    for ax, (name, chars, wrong) in zip(axes[0], grids):
        ax.set_xlim(0, side)
        ax.set_ylim(side, 0)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name)
        for i, ch in enumerate(chars):
            r, c = divmod(i, side)
            face = _MAZE_COLOURS.get(ch, "#ff00ff") if maze else "#ffffff"
            ax.add_patch(Rectangle((c, r), 1, 1, facecolor=face, edgecolor="#cccccc", linewidth=0.3))
            if not maze and ch != ".":
                ax.text(c + 0.5, r + 0.5, ch, ha="center", va="center", fontsize=max(4, 90 // side))
            if wrong is not None and wrong[i]:
                ax.add_patch(Rectangle((c, r), 1, 1, fill=False, edgecolor="red", linewidth=1.5))
    if title:
        fig.suptitle(title)
    out = Path(path)
    try:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)
    return out
