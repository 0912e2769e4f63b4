import json

import pytest
import torch

from attractor.config import ConfigError
from attractor.evaluation.puzzle import evaluate_checkpoint
from attractor.tasks.config import validate_run
from attractor.tasks.harness import datamodule_class, train
from tests.conftest import compose_run

TINY = ["model.dim=32", "model.n_heads=2", "logger=none", "eval_after_fit=false"]


def _run(overrides):
    cfg = compose_run(overrides)
    return validate_run(cfg, datamodule_class(cfg.task.name))


@pytest.mark.parametrize("experiment", ["sudoku_smoke", "maze_smoke"])
@pytest.mark.parametrize("model", ["attractor", "looped", "transformer"])
def test_smoke_experiments_train_a_few_steps(tmp_path, experiment, model):
    run = _run([f"experiment={experiment}", f"model={model}", *TINY, "train.max_steps=2", "train.val_every_steps=2",
                "task.data.n_train=128", "task.data.n_test=16", "task.batch_size=16"])
    result = train(run, tmp_path)
    assert result.metrics["steps"] == 2
    assert result.last_checkpoint.exists()
    assert (tmp_path / "metrics.json").exists()


def test_jacobian_penalty_and_ema_train(tmp_path):
    run = _run(["experiment=sudoku_smoke", "solver=last_k", *TINY, "train.max_steps=2",
                "task.data.n_train=128", "task.data.n_test=16", "task.batch_size=16", "optim.ema_decay=0.9"])
    result = train(run, tmp_path)
    assert result.metrics["final"]["train/jacobian_frobenius"] > 0
    ckpt = torch.load(result.last_checkpoint, weights_only=True)
    assert {"state_dict", "current_model_state"} <= set(ckpt)


def test_short_training_beats_chance_cell_accuracy(tmp_path):
    # 6x6 Sudoku with 8 blanks: chance on a blank cell is 1/6.
    run = _run(["experiment=sudoku_smoke", *TINY, "model.dim=64", "model.n_heads=4", "train.max_steps=50",
                "train.val_every_steps=50", "task.data.blanks=8", "task.data.n_train=800", "task.data.n_test=200",
                "optim.lr=3e-3", "optim.warmup_steps=10"])
    train(run, tmp_path)
    report = evaluate_checkpoint(tmp_path / "checkpoints" / "last.ckpt", tmp_path, modes=["solver"])
    assert report["cell_acc"] > 1 / 6 + 0.15
    assert report["n_items"] == 200


def test_resume_continues_with_same_step_and_loss(tmp_path):
    common = ["experiment=sudoku_smoke", *TINY, "train.max_steps=6", "train.checkpoint_every_steps=3",
              "train.val_every_steps=100", "task.data.n_train=64", "task.data.n_test=16", "task.batch_size=16",
              "trainer.deterministic=true"]
    straight = train(_run(common), tmp_path / "straight")
    interrupted = _run(common[:-6] + ["train.max_steps=3", *common[-5:]])
    first = train(interrupted, tmp_path / "resumed")
    assert first.metrics["steps"] == 3
    # The resumed run keeps its schedule (max_steps=6) and picks up at step 3 with the same data.
    resumed = train(_run(common + ["ckpt_path=last"]), tmp_path / "resumed")
    assert resumed.metrics["steps"] == 6
    assert resumed.metrics["resumed_from"].endswith("last.ckpt")
    assert resumed.metrics["final"]["train/loss"] == pytest.approx(straight.metrics["final"]["train/loss"], rel=1e-5)
    a = torch.load(straight.last_checkpoint, weights_only=True)["state_dict"]
    b = torch.load(resumed.last_checkpoint, weights_only=True)["state_dict"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_fresh_run_refuses_to_overwrite_checkpoints(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="ckpt_path=last"):
        train(_run(["experiment=sudoku_smoke", *TINY]), tmp_path)


@pytest.mark.parametrize(
    "override,key",
    [
        ("+task.data.colour=red", "task.data.colour"),
        ("solver.tol=-1", "solver.tol"),
        ("solver.name=newton", "solver.name"),
        ("optim.lr=0", "optim.lr"),
        ("optim.schedule=linear", "optim.schedule"),
        ("trainer.precision=8-bit", "trainer.precision"),
        ("train.max_steps=0", "train.max_steps"),
        ("model.dim=30", "model.n_heads"),
        ("+model.depth=3", "model.depth"),
        ("model.vocab_size=5", "model.vocab_size"),
        ("logger.kind=tensorboard", "logger.kind"),
        ("+lr=3", "lr"),
    ],
)
def test_every_config_error_names_its_key(override, key):
    with pytest.raises(ConfigError) as err:
        _run([override])
    assert err.value.key == key


def test_eval_json_schema_and_full_test_set(tmp_path):
    run = _run(["experiment=sudoku_smoke", *TINY, "train.max_steps=2", "task.data.n_train=64", "task.data.n_test=37",
                "task.batch_size=16", "task.eval_batch_size=10"])
    train(run, tmp_path)
    report = evaluate_checkpoint(tmp_path / "checkpoints" / "last.ckpt", tmp_path)
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert saved == json.loads(json.dumps(report))
    assert saved["n_items"] == 37 and saved["full_test_set"]
    assert [row["mode"] for row in saved["sweep"]] == ["none", "iters=1", "iters=2", "iters=4", "iters=8", "iters=16",
                                                     "iters=32", "solver"]
    for row in saved["sweep"]:
        assert {"exact_acc", "exact_ci95", "cell_acc", "cell_ci95", "mean_iterations", "n_items"} <= set(row)
        assert row["exact_ci95"][0] <= row["exact_acc"] <= row["exact_ci95"][1]
    assert saved["sweep"][0]["mean_iterations"] == 0 and saved["sweep"][3]["mean_iterations"] == 4
    assert (tmp_path / saved["plot"]).stat().st_size > 0
