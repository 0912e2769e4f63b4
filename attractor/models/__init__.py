"""The models, built from one config node by :func:`build_model`."""
from __future__ import annotations

from typing import Any

from attractor.config import ConfigError, from_mapping, to_plain
from attractor.models.attractor import Attractor
from attractor.models.base import SequenceModel
from attractor.models.config import (AttractorConfig, LoopedConfig, ModelConfig, TransformerConfig, TRMConfig, TRMDEQConfig,
                                     parse_inference_mode)
from attractor.models.looped import Looped
from attractor.models.output import ModelOutput
from attractor.models.transformer import Transformer
from attractor.models.trm import TRM, Recursive
from attractor.models.trm_deq import TRMDEQ

MODELS: dict[str, tuple[type[ModelConfig], type[SequenceModel]]] = {
    "transformer": (TransformerConfig, Transformer),
    "looped": (LoopedConfig, Looped),
    "attractor": (AttractorConfig, Attractor),
    "trm": (TRMConfig, TRM),
    "trm_deq": (TRMDEQConfig, TRMDEQ),
}
# Models whose config holds the run's `solver` group.
SOLVER_MODELS = ("attractor", "trm_deq")


def model_config(cfg: Any, where: str = "model") -> ModelConfig:
    """Validate a model config node (dict or DictConfig) into its dataclass; errors name the key."""
    data = to_plain(cfg)
    if isinstance(data, ModelConfig):
        return data
    if not isinstance(data, dict) or "name" not in data:
        raise ConfigError(f"{where}.name", f"missing; choose one of {sorted(MODELS)}")
    if data["name"] not in MODELS:
        raise ConfigError(f"{where}.name", f"{data['name']!r} is not one of {sorted(MODELS)}")
    return from_mapping(MODELS[data["name"]][0], data, where)


def build_model(cfg: Any) -> SequenceModel:
    """Build any of :data:`MODELS` from the model node of a composed config."""
    model_cfg = model_config(cfg)
    return MODELS[model_cfg.name][1](model_cfg)


__all__ = ["MODELS", "SOLVER_MODELS", "TRM", "TRMDEQ", "Attractor", "Looped", "ModelOutput", "Recursive",
           "SequenceModel", "Transformer", "build_model", "model_config", "parse_inference_mode"]
