"""Figures saved headless and atomically, so scripts and the evaluator share one way to write a PNG."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from attractor.io import atomic_path


@contextmanager
def save_figure(path: str | os.PathLike, **subplot_kw: Any) -> Iterator[tuple[Any, Any]]:
    """Yield (figure, axes); on exit the figure is written to ``path`` as PNG and closed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=subplot_kw.pop("figsize", (6, 4)), **subplot_kw)
    try:
        yield fig, ax
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=120)
    finally:
        plt.close(fig)
