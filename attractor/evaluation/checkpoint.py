"""Load a training checkpoint safely (weights only) back into its model, with clear errors."""
from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

import torch

from attractor.models import SequenceModel, build_model
from attractor.tasks.config import Run, validate_run

Weights = Literal["ema", "raw"]


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, not ours, or for another model."""


class LoadedCheckpoint(NamedTuple):
    run: Run
    model: SequenceModel  # in eval mode, on the CPU
    weights: Weights  # which weights the model holds: the EMA average or the raw trained weights


def load_checkpoint(path: str | os.PathLike, weights: Weights | None = None,
                    expect_model: str | None = None, solver: Mapping[str, Any] | None = None) -> LoadedCheckpoint:
    """The run config and the model of a checkpoint written by ``train.py``, in eval mode.

    Uses ``torch.load(weights_only=True)``: no code in the file is executed. A run with an EMA
    stores the average in ``state_dict`` and the raw weights in ``current_model_state``
    (``attractor.tasks.ema``); ``weights`` picks one (default: the average when there is one) and
    the result says which it holds. ``expect_model`` guards against a checkpoint of another kind of
    model than the caller asked for. ``solver``: fields of the run's solver config to change for
    inference (e.g. ``{"tol": 1e-2, "max_iter": 64}``: when the solve stops), validated like a run's.
    """
    path = Path(path)
    if path.is_dir():  # torch.distributed.checkpoint writes one file per rank into a folder
        raise CheckpointError(f"{path} is a folder, a sharded checkpoint: trainer=fsdp writes whole files; make one with "
                              f"torch.distributed.checkpoint.format_utils.dcp_to_torch_save({str(path)!r}, 'whole.ckpt')")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "config" not in ckpt.get("hyper_parameters", {}):
        raise CheckpointError(f"{path} is not an attractor training checkpoint (no state_dict and config)")
    config = ckpt["hyper_parameters"]["config"]
    if solver:
        config = {**config, "solver": {**(config.get("solver") or {}), **solver}}
    run = validate_run(config)
    if expect_model is not None and run.model.name != expect_model:
        raise CheckpointError(f"{path} holds a {run.model.name!r} model, not the expected {expect_model!r}")
    has_ema = "current_model_state" in ckpt
    if weights is None:
        weights = "ema" if has_ema else "raw"
    if weights not in ("ema", "raw"):
        raise CheckpointError(f"weights={weights!r} is not one of 'ema', 'raw'")
    if weights == "ema" and not has_ema:
        raise CheckpointError(f"{path}: weights='ema', but this run kept no EMA (optim.ema_decay was 0)")
    state = ckpt["state_dict"] if weights == "ema" or not has_ema else ckpt["current_model_state"]
    model = build_model(run.model)
    load_weights(model, model_weights(state), f"{path} ({run.model.name} model, {weights} weights)")
    return LoadedCheckpoint(run, model.eval(), weights)


def model_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's entries of a LightningModule state dict. ``_orig_mod.`` (the prefix of a model
    wrapped by ``torch.compile``, as older runs saved it) is dropped."""
    return {k.removeprefix("model.").replace("_orig_mod.", ""): v for k, v in state.items() if k.startswith("model.")}


def load_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor], where: str) -> None:
    """``model.load_state_dict(weights)``, or a CheckpointError naming the first key that is missing,
    unexpected or of another shape (with both shapes)."""
    expected = model.state_dict()
    for key, value in expected.items():
        if key not in weights:
            raise CheckpointError(f"{where}: weights lack {key!r} (shape {tuple(value.shape)})")
        if weights[key].shape != value.shape:
            raise CheckpointError(f"{where}: {key!r} has shape {tuple(weights[key].shape)} in the checkpoint, "
                                  f"{tuple(value.shape)} in the model")
    unexpected = sorted(set(weights) - set(expected))
    if unexpected:
        raise CheckpointError(f"{where}: weights hold {unexpected[0]!r}, which the model does not have")
    model.load_state_dict(weights)
