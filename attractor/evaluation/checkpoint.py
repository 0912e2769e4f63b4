"""Load a training checkpoint safely (weights only) back into its model, with clear errors."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

from attractor.models import SequenceModel, build_model
from attractor.tasks.config import Run, validate_run


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, not ours, or for another model."""


def load_checkpoint(path: str | os.PathLike, ema: bool = True,
                    expect_model: str | None = None) -> tuple[Run, SequenceModel]:
    """The run config and the model of a checkpoint written by ``train.py``, in eval mode.

    Uses ``torch.load(weights_only=True)``: no code in the file is executed. ``ema`` loads the
    averaged weights when the run kept them. ``expect_model`` guards against a checkpoint of another
    kind of model than the caller asked for.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "config" not in ckpt.get("hyper_parameters", {}):
        raise CheckpointError(f"{path} is not an attractor training checkpoint (no state_dict and config)")
    run = validate_run(ckpt["hyper_parameters"]["config"])
    if expect_model is not None and run.model.name != expect_model:
        raise CheckpointError(f"{path} holds a {run.model.name!r} model, not the expected {expect_model!r}")
    model = build_model(run.model)
    weights = ckpt.get("ema_state_dict") if ema and "ema_state_dict" in ckpt else {
        k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit the {run.model.name} model its config describes: "
                              f"{str(err).splitlines()[0]}") from None
    return run, model.eval()
