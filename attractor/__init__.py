"""attractor: Transformers that think by settling into a fixed point.

Public API: :func:`build_model` builds ``transformer``, ``looped`` or ``attractor`` from a config node;
every model returns a :class:`ModelOutput` (``.logits``, ``.stats``).
"""
from __future__ import annotations

from typing import Any

__all__ = ["build_model", "ModelOutput"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy, so that `attractor.data` and `attractor.decoding` import without building the model stack.
    if name == "build_model":
        from attractor.models import build_model

        return build_model
    if name == "ModelOutput":
        from attractor.models.output import ModelOutput

        return ModelOutput
    raise AttributeError(f"module 'attractor' has no attribute {name!r}")
