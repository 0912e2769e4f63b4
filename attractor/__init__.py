"""attractor: Transformers that think by settling into a fixed point.

Public API: :func:`build_model` builds ``transformer``, ``looped``, ``attractor``, ``trm`` or ``trm_deq``
from a config node; every model returns a :class:`ModelOutput` (``.logits``, ``.stats``).
:func:`from_pretrained` loads a model exported with ``eval.py action=export`` (a folder or a Hub repo
id; docs/sharing.md).
"""
from __future__ import annotations

from typing import Any

__all__ = ["build_model", "from_pretrained", "ModelOutput"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy, so that `attractor.data` and `attractor.decoding` import without building the model stack.
    if name == "build_model":
        from attractor.models import build_model

        return build_model
    if name == "ModelOutput":
        from attractor.models.output import ModelOutput

        return ModelOutput
    if name == "from_pretrained":
        from attractor.hub import from_pretrained

        return from_pretrained
    raise AttributeError(f"module 'attractor' has no attribute {name!r}")
