"""The LM evaluator scores the held-out test split by default (val only when asked), and says which."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from attractor.evaluation.lm import evaluate_lm_checkpoint
from attractor.models import build_model
from attractor.tasks.config import validate_run
from attractor.tasks.harness import build_datamodule, datamodule_class
from tests.conftest import compose_run, run_command

SEQ = 16
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained tiny transformer saved as train.py saves checkpoints, on a corpus whose val and
    test splits differ in size, so the scored split shows in the window count."""
    root = tmp_path_factory.mktemp("lm_split")
    (root / "t.txt").write_text("".join(f"line {i:03d} of the corpus\n" for i in range(400)))
    cfg = compose_run(["experiment=lm_smoke", "model=transformer", "logger=none", "model.dim=16", "model.n_heads=2",
                       f"task.seq_len={SEQ}", "task.vocab_size=25", f"task.data.inputs=[{root / 't.txt'}]",
                       f"task.data.prepare_dir={root / 'prepared'}", "task.data.val_fraction=0.2"])
    run = validate_run(cfg, datamodule_class("lm"))
    model = build_model(run.model)
    path = root / "model.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
                "hyper_parameters": {"config": run.raw}}, path)
    dm = build_datamodule(run)
    dm.setup("validate")
    return path, dm


@pytest.mark.parametrize("split", ["test", "val", None])
def test_evaluator_scores_the_split_it_reports(checkpoint, tmp_path, split):
    path, dm = checkpoint
    report = evaluate_lm_checkpoint(path, tmp_path, device="cpu", **({"split": split} if split else {}))
    scored = split or "test"
    windows = {"test": dm.test_set, "val": dm.val_set}[scored]
    assert len(dm.test_set) != len(dm.val_set)
    assert report["split"] == scored and report["tokens_in_split"] == dm.meta["tokens"][scored]
    assert report["n_windows"] == len(windows) and report["full_split"]
    assert json.loads((tmp_path / "eval.json").read_text())["split"] == scored


def test_unknown_split_is_an_error(checkpoint, tmp_path):
    with pytest.raises(ValueError, match="split: 'train' is not one of 'val', 'test'"):
        evaluate_lm_checkpoint(checkpoint[0], tmp_path, device="cpu", split="train")


@pytest.mark.parametrize("split", [None, "val"])
def test_eval_py_passes_split_to_the_lm_evaluator(checkpoint, tmp_path, split, monkeypatch, capsys):
    path, dm = checkpoint
    code = run_command("eval.py", [f"ckpt={path}", f"out_dir={tmp_path}", "device=cpu", "modes=[solver]",
                                   *([f"split={split}"] if split else [])], monkeypatch)
    assert code == 0, capsys.readouterr().err[-2000:]
    saved = json.loads((tmp_path / "eval.json").read_text())
    scored = split or "test"  # configs/eval.yaml's default
    assert saved["split"] == scored and saved["n_windows"] == len({"test": dm.test_set, "val": dm.val_set}[scored])


def test_eval_py_refuses_split_for_a_puzzle_checkpoint(tmp_path):
    spec = importlib.util.spec_from_file_location("eval_cli", ROOT / "eval.py")
    eval_cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(eval_cli)
    with pytest.raises(ValueError, match="split: chooses a language model's corpus split; a puzzle checkpoint"):
        eval_cli.evaluate_puzzle(tmp_path / "puzzle.ckpt", tmp_path, {"split": "val"})
