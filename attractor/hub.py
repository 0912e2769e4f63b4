"""Share a trained model as plain files: ``model.safetensors`` + ``config.json`` (+ ``tokenizer.json``).

    python eval.py action=export ckpt=outputs/RUN/checkpoints/last.ckpt out=DIR
    model = attractor.from_pretrained(DIR)          # or a Hub repo id: "user/name"

A Lightning checkpoint is a pickle-bearing file tied to our training code; an export holds only
tensors (safetensors: no code runs on load) and a JSON config that rebuilds the model with any
version of this package whose config fields still mean the same thing.

Design: :class:`PretrainedModel` is a small holder (model, which weights, task, tokenizer) that
inherits ``huggingface_hub.ModelHubMixin``, which gives ``save_pretrained``, ``from_pretrained``
(local folder or Hub repo) and ``push_to_hub``. The models themselves do not inherit the mixin:
models know nothing of files (docs/architecture.md), and ``PyTorchModelHubMixin``'s own loading is
``strict=False`` (a mismatched file would load silently), writes non-atomically and rebuilds the
model from ``__init__`` keyword arguments, while ours are built from one config dataclass chosen by
name (``attractor.models.MODELS``), so any model kind exports with no code of its own.

The weights file records the model config it was written with (safetensors metadata). Loading
compares it with ``config.json`` and refuses any difference naming the key, then checks every
tensor's name and shape, so a config that does not match the weights is never built silently.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import ModelHubMixin, constants, hf_hub_download

from attractor.io import atomic_path, write_json, write_text
from attractor.models import SequenceModel, build_model, model_config

WEIGHTS_NAME = constants.SAFETENSORS_SINGLE_FILE  # model.safetensors
CONFIG_NAME = constants.CONFIG_NAME  # config.json
TOKENIZER_NAME = "tokenizer.json"
FORMAT = "attractor"  # config.json's "format": tells our export from a transformers folder
METADATA_KEY = "attractor_model_config"  # safetensors metadata: the model config the weights were written with
MODEL_CARD = """---
{{ card_data }}
---

An `attractor` {{ model_name }} model ({{ weights }} weights), exported with `eval.py action=export`.

```python
import attractor
model = attractor.from_pretrained("THIS_FOLDER_OR_REPO_ID")   # eval mode; model(tokens, mode=...)
```

`config.json` holds the model config (`model`), the task its tokens belong to (`task`) and the run it
came from (`source`).
"""


class ExportError(ValueError):
    """An export folder that cannot be loaded: missing files, or a config that does not match its weights."""


def tied_aliases(model: torch.nn.Module) -> dict[str, str]:
    """State-dict names of parameters that share one tensor with an earlier name (a tied head):
    ``{alias: name kept}``. safetensors stores a shared tensor once."""
    first: dict[int, str] = {}
    aliases = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        if id(param) in first:
            aliases[name] = first[id(param)]
        else:
            first[id(param)] = name
    return aliases


def save_weights(model: SequenceModel, path: str | os.PathLike) -> None:
    """The model's state dict as safetensors (tied tensors once), atomically, with its config in the metadata."""
    from safetensors.torch import save_file

    aliases = tied_aliases(model)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items() if k not in aliases}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", METADATA_KEY: json.dumps(asdict(model.cfg))})


def load_weights_file(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict | None]:
    """Tensors of a safetensors file and the model config recorded with them (None if absent)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        recorded = (f.metadata() or {}).get(METADATA_KEY)
        tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 - safe_open is not a dict
    return tensors, (json.loads(recorded) if recorded else None)


def first_difference(a: Any, b: Any, where: str) -> tuple[str, Any, Any] | None:
    """The first key (dotted, from ``where``) whose value differs between two JSON-like values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = first_difference(a.get(key), b.get(key), f"{where}.{key}")
            if found:
                return found
        return None
    return None if a == b else (where, a, b)


def build_from_files(config: dict, weights_path: str | os.PathLike, where: str) -> SequenceModel:
    """The model ``config['model']`` describes, holding the weights of ``weights_path``, in eval mode."""
    from attractor.evaluation.checkpoint import CheckpointError, load_weights

    if "model" not in config:
        raise ExportError(f"{where}/{CONFIG_NAME}: no 'model' entry (not an attractor export)")
    model = build_model(model_config(config["model"]))
    tensors, recorded = load_weights_file(weights_path)
    if recorded is not None:
        found = first_difference(asdict(model.cfg), asdict(model_config(recorded, "recorded")), "model")
        if found:
            key, ours, theirs = found
            raise ExportError(f"{where}: {key} is {ours!r} in {CONFIG_NAME} but {theirs!r} in {WEIGHTS_NAME} "
                              f"(the config the weights were written with): the config does not match the weights")
    for alias, name in tied_aliases(model).items():
        if alias not in tensors and name in tensors:
            tensors[alias] = tensors[name]
    try:
        load_weights(model, tensors, f"{where}/{WEIGHTS_NAME}")
    except CheckpointError as err:
        raise ExportError(str(err)) from None
    return model.eval()


class PretrainedModel(
    ModelHubMixin,
    library_name="attractor",
    tags=["attractor", "deep-equilibrium", "looped-transformer"],
    model_card_template=MODEL_CARD,
):
    """A model with what is needed to use it elsewhere: which weights it holds (``ema`` or ``raw``),
    its task (how its tokens are to be read) and, for language models, its tokenizer.

    ``save_pretrained(dir)`` / ``push_to_hub(repo_id)`` write it; ``PretrainedModel.from_pretrained``
    reads a folder or a Hub repo back (``attractor.from_pretrained`` returns just the model).
    """

    def __init__(self, model: SequenceModel, weights: str = "raw", task: dict | None = None,
                 tokenizer: Any = None, source: dict | None = None):
        self.model, self.weights, self.task, self.tokenizer = model, weights, task, tokenizer
        self.source = source or {}

    def config(self) -> dict[str, Any]:
        """config.json: enough to rebuild the model (``model``) and to say what it is."""
        return {"format": FORMAT, "attractor_version": version("attractor"), "model": asdict(self.model.cfg),
                "weights": self.weights, "task": self.task,
                "tokenizer": TOKENIZER_NAME if self.tokenizer is not None else None, "source": self.source}

    def _save_pretrained(self, save_directory: Path) -> None:
        """Every file atomically, config.json last (the mixin then leaves it as written here)."""
        save_weights(self.model, save_directory / WEIGHTS_NAME)
        if self.tokenizer is not None:
            self.tokenizer.save(save_directory / TOKENIZER_NAME)
        write_text(save_directory / "README.md",
                   str(self.generate_model_card(model_name=self.model.cfg.name, weights=self.weights)))
        write_json(save_directory / CONFIG_NAME, self.config())

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None, cache_dir: str | Path | None,
                         force_download: bool, local_files_only: bool, token: str | bool | None,
                         config: dict | None = None, map_location: str = "cpu",
                         **_config_fields: Any) -> PretrainedModel:
        if config is None:
            raise ExportError(f"{model_id}: no {CONFIG_NAME}")
        # The mixin also passes config.json's entries named like __init__'s parameters; `config` has them all.
        unexpected = sorted(set(_config_fields) - set(config))
        if unexpected:
            raise TypeError(f"from_pretrained got unexpected keyword arguments {unexpected}")
        if config.get("format") != FORMAT:
            raise ExportError(f"{model_id}/{CONFIG_NAME}: format is {config.get('format')!r}, not {FORMAT!r} "
                              "(a transformers folder loads with transformers' own from_pretrained)")

        def fetch(filename: str) -> str:
            if os.path.isdir(model_id):
                path = Path(model_id) / filename
                if not path.is_file():
                    raise ExportError(f"{model_id}: no {filename}")
                return str(path)
            return hf_hub_download(repo_id=model_id, filename=filename, revision=revision, cache_dir=cache_dir,
                                   force_download=force_download, token=token, local_files_only=local_files_only)

        model = build_from_files(config, fetch(WEIGHTS_NAME), model_id).to(map_location)
        tokenizer = None
        if config.get("tokenizer"):
            from attractor.data.text.tokenizer import load_tokenizer

            tokenizer = load_tokenizer(fetch(TOKENIZER_NAME))
        return cls(model, config.get("weights", "raw"), config.get("task"), tokenizer, config.get("source"))


def from_pretrained(path_or_repo: str | os.PathLike, **kwargs: Any) -> SequenceModel:
    """The model of an export folder (or Hub repo id), in eval mode: ``attractor.from_pretrained(DIR)``.

    ``kwargs`` go to ``PretrainedModel.from_pretrained`` (``map_location``, ``revision``, ``token``,
    ``local_files_only``...). Use :class:`PretrainedModel` for the tokenizer and task as well."""
    return load_pretrained(path_or_repo, **kwargs).model


def load_pretrained(path_or_repo: str | os.PathLike, **kwargs: Any) -> PretrainedModel:
    """:class:`PretrainedModel` of a folder or Hub repo; a path that is plainly local but absent is an error
    here, not a Hub lookup."""
    text = str(path_or_repo)
    if not os.path.isdir(text) and (os.path.exists(text) or text.startswith((".", "/", "~")) or text.count("/") > 1):
        raise FileNotFoundError(f"{text}: no such export folder")
    return PretrainedModel.from_pretrained(text, **kwargs)


def export_checkpoint(ckpt: str | os.PathLike, out: str | os.PathLike, weights: str | None = None,
                      format: str = "attractor") -> PretrainedModel:
    """Write a training checkpoint's model to ``out``: ``format='attractor'`` as safetensors + config.json
    (+ tokenizer.json for a language model), ``'llama'`` as a transformers Llama folder
    (:mod:`attractor.llama`). ``weights``: ``ema`` (default when the run kept an average) or ``raw``."""
    from attractor.evaluation.checkpoint import load_checkpoint
    from attractor.tasks.harness import build_datamodule

    if format not in ("attractor", "llama"):
        raise ValueError(f"format: {format!r} is not one of 'attractor', 'llama'")
    run, model, chosen = load_checkpoint(ckpt, weights)
    if format == "llama":
        from attractor.llama import check_exportable

        check_exportable(run.model)  # before the corpus is opened for the tokenizer
    tokenizer = None
    if run.task.name == "lm":
        from attractor.data.text.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(build_datamodule(run).data_dir)
    task = {k: v for k, v in asdict(run.task).items() if k in ("name", "vocab_size", "seq_len", "causal", "data")}
    source = {"run": run.name, "seed": run.seed, "checkpoint": str(ckpt)}
    pretrained = PretrainedModel(model, chosen, task, tokenizer, source)
    if format == "llama":
        from attractor.llama import export_llama

        export_llama(model, out, tokenizer, {"weights": chosen, **source})
    else:
        pretrained.save_pretrained(out)
    return pretrained
