"""Export and reload: model.safetensors + config.json rebuild every model kind, bit-identical in every
inference mode; a config that does not match its weights is refused naming the key."""
import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import attractor
from attractor.data.text.tokenizer import CharTokenizer
from attractor.evaluation.checkpoint import load_checkpoint
from attractor.hub import ExportError, PretrainedModel, export_checkpoint, load_pretrained
from attractor.models import MODELS, build_model
from tests.checkpoints import lm_overrides, perturb, run_config, save_checkpoint
from tests.conftest import run_command

BASE = {"vocab_size": 13, "max_len": 10, "dim": 16, "n_heads": 2}
VARIANTS = [{"name": name} for name in MODELS] + [
    {"name": "transformer", "causal": True, "tie_embeddings": False, "positions": "learned"},
    {"name": "looped", "causal": True, "grad_loops": 1},
    {"name": "attractor", "causal": True, "tie_embeddings": False, "positions": "learned"},
    {"name": "attractor", "map": "normed", "f_norm": "spectral", "proposal": "linear", "proposal_weight": 1.0},
    {"name": "attractor", "f_norm": "weight", "inference": "iters=4"},
]
MODES = [None, "solver", "iters=3", "none"]


def tokens(cfg, batch: int = 3) -> torch.Tensor:
    return torch.randint(0, cfg.vocab_size, (batch, min(cfg.max_len, 10)), generator=torch.Generator().manual_seed(0))


def assert_same_outputs(a: torch.nn.Module, b: torch.nn.Module) -> None:
    x = tokens(a.cfg)
    with torch.no_grad():
        for mode in MODES:
            out_a, out_b = a(x, mode=mode), b(x, mode=mode)
            assert torch.equal(out_a.logits, out_b.logits), mode
            assert out_a.stats.keys() == out_b.stats.keys()
            for key in out_a.stats:
                assert torch.equal(out_a.stats[key], out_b.stats[key]), (mode, key)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(f"{v_}" for v_ in v.values()))
def test_round_trip_is_bit_identical_in_every_mode(variant, tmp_path):
    model = perturb(build_model({**BASE, **variant}))
    PretrainedModel(model, "raw").save_pretrained(tmp_path)
    loaded = attractor.from_pretrained(tmp_path)
    assert type(loaded) is type(model) and loaded.cfg == model.cfg and not loaded.training
    assert_same_outputs(model, loaded)
    with safe_open(str(tmp_path / "model.safetensors"), framework="pt") as f:
        stored = set(f.keys())
    assert ("head.weight" in stored) == (not model.cfg.tie_embeddings)  # a tied head is stored once
    assert loaded.head.weight is loaded.embedding.weight or not model.cfg.tie_embeddings
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["format"] == "attractor" and config["model"]["name"] == variant["name"] and config["weights"] == "raw"
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries


def saved(tmp_path: Path, **cfg) -> Path:
    PretrainedModel(perturb(build_model({**BASE, "name": "attractor", **cfg})), "raw").save_pretrained(tmp_path)
    return tmp_path


def edit_config(folder: Path, **model_fields) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["model"].update(model_fields)
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("field, value, shown", [("dim", 32, "model.dim is 32 in config.json but 16"),
                                                 ("causal", True, "model.causal is True in config.json but False"),
                                                 ("solver", {"tol": 0.5}, "model.solver.tol is 0.5")])
def test_a_config_that_does_not_match_the_weights_is_refused_naming_the_key(tmp_path, field, value, shown):
    folder = saved(tmp_path)
    if field == "solver":
        value = {**json.loads((folder / "config.json").read_text())["model"]["solver"], **value}
    edit_config(folder, **{field: value})
    with pytest.raises(ExportError, match=shown):
        attractor.from_pretrained(folder)


def test_weights_without_a_recorded_config_are_checked_tensor_by_tensor(tmp_path):
    folder = saved(tmp_path)
    model = build_model({**BASE, "name": "attractor", "dim": 8, "n_heads": 2})
    save_file({k: v.contiguous() for k, v in model.state_dict().items() if k != "head.weight"},
              str(folder / "model.safetensors"))  # another tool's file: no metadata
    with pytest.raises(ExportError, match=r"model.safetensors: 'gate_logit' has shape \(8,\) in the checkpoint, \(16,\) in the model"):
        attractor.from_pretrained(folder)
    save_file({"embedding.weight": torch.zeros(13, 16)}, str(folder / "model.safetensors"))
    with pytest.raises(ExportError, match="weights lack 'gate_logit'"):
        attractor.from_pretrained(folder)


def test_folders_that_are_not_exports_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such export folder"):
        attractor.from_pretrained(tmp_path / "absent")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ExportError, match="format is None, not 'attractor'"):
        attractor.from_pretrained(tmp_path)
    folder = saved(tmp_path / "x")
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['map_locaton'\]"):
        attractor.from_pretrained(folder, map_locaton="cpu")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ExportError, match="no model.safetensors"):
        attractor.from_pretrained(folder)


def test_export_states_and_holds_the_chosen_weights(tmp_path):
    run = run_config(["model=looped", "debug=tiny", "optim.ema_decay=0.9"])
    raw, average = save_checkpoint(run, tmp_path / "last.ckpt", ema=True)
    for weights, expected in ((None, average), ("ema", average), ("raw", raw)):
        out = tmp_path / f"export-{weights}"
        export_checkpoint(tmp_path / "last.ckpt", out, weights)
        pretrained = load_pretrained(out)
        assert pretrained.weights == json.loads((out / "config.json").read_text())["weights"] == (weights or "ema")
        assert pretrained.task["name"] == "sudoku" and pretrained.tokenizer is None
        assert_same_outputs(expected, pretrained.model)
    assert not torch.equal(raw(tokens(raw.cfg)).logits, average(tokens(raw.cfg)).logits)


def test_eval_py_exports_a_language_model_with_its_tokenizer(tmp_path, monkeypatch, capsys):
    run = run_config(lm_overrides(tmp_path, "attractor"))
    save_checkpoint(run, tmp_path / "last.ckpt")
    out = tmp_path / "export"
    code = run_command("eval.py", ["action=export", f"ckpt={tmp_path / 'last.ckpt'}", f"out={out}"], monkeypatch)
    printed = capsys.readouterr()
    assert code == 0, printed.err[-2000:]
    assert f"wrote {out} (attractor format, raw weights)" in printed.out
    pretrained = load_pretrained(out)
    assert isinstance(pretrained.tokenizer, CharTokenizer) and pretrained.tokenizer.vocab_size == 25
    assert pretrained.task["name"] == "lm" and pretrained.task["causal"]
    assert_same_outputs(load_checkpoint(tmp_path / "last.ckpt").model, pretrained.model)
