import csv
import json

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from attractor.config import ConfigError
from attractor.evaluation.puzzle import evaluate_checkpoint
from attractor.tasks.config import validate_run
from attractor.tasks.harness import datamodule_class, train
from attractor.tasks.optim import lr_factor
from tests.conftest import compose_run

TINY = ["model.dim=32", "model.n_heads=2", "logger=none", "eval_after_fit=false"]


def _run(overrides):
    cfg = compose_run(overrides)
    return validate_run(cfg, datamodule_class(cfg.task.name))


class StepMetrics(Callback):
    """What the training step logged, at every step."""

    def __init__(self) -> None:
        self.steps: list[dict[str, float]] = []

    def on_train_batch_end(self, trainer, *args) -> None:
        self.steps.append({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")})


@pytest.mark.parametrize("experiment", ["sudoku_smoke", "maze_smoke"])
@pytest.mark.parametrize("model", ["attractor", "looped", "transformer"])
def test_smoke_experiments_train_a_few_steps(tmp_path, experiment, model):
    """Six steps on one repeated batch: the loss falls (a loss that does not reach the weights, or
    climbs, fails), and the run leaves its checkpoint and metrics."""
    record = StepMetrics()
    run = _run([f"experiment={experiment}", f"model={model}", *TINY, "train.max_steps=6", "train.val_every_steps=6",
                "task.data.n_train=16", "task.data.n_test=16", "task.batch_size=16", "task.data.augment=false",
                "optim.lr=3e-3", "optim.warmup_steps=1", "optim.schedule=constant"])
    result = train(run, tmp_path, [record])
    losses = [s["train/loss"] for s in record.steps]
    assert result.metrics["steps"] == 6 and len(losses) == 6
    assert losses[-1] < 0.9 * losses[0], losses
    assert result.last_checkpoint.exists()
    assert (tmp_path / "metrics.json").exists()


def test_jacobian_penalty_enters_the_loss_at_its_frequency_and_ema_keeps_raw_weights_apart(tmp_path):
    """At the first step (same weights, same batch) the penalised run's loss exceeds the unpenalised
    one's by exactly jac_reg_weight x ||J||_F^2 / (n x dim), the logged estimate; jac_reg_freq=0
    computes no penalty. EMA: the checkpoint's average differs from its raw weights."""
    common = ["experiment=sudoku_smoke", "solver=last_k", "solver.jac_reg_weight=1e4", *TINY, "train.max_steps=2",
              "task.data.n_train=32", "task.data.n_test=16", "task.batch_size=16", "optim.ema_decay=0.9"]
    penalised, off = StepMetrics(), StepMetrics()
    result = train(_run(common), tmp_path / "on", [penalised])
    train(_run(common + ["solver.jac_reg_freq=0"]), tmp_path / "off", [off])
    first, unpenalised = penalised.steps[0], off.steps[0]
    assert "train/jacobian_frobenius" not in unpenalised and first["train/jacobian_frobenius"] > 0
    assert first["train/loss"] - unpenalised["train/loss"] == pytest.approx(
        1e4 * first["train/jacobian_frobenius"] / 32, rel=1e-3)
    ckpt = torch.load(result.last_checkpoint, weights_only=True)
    average, raw = ckpt["state_dict"], ckpt["current_model_state"]
    assert average.keys() == raw.keys() and any(not torch.equal(average[k], raw[k]) for k in raw)


def test_the_learning_rate_of_every_step_is_logged(tmp_path):
    run = _run(["experiment=sudoku_smoke", *TINY[:2], "logger=csv", "eval_after_fit=false", "train.max_steps=4",
                "train.log_every_steps=1", "task.data.n_train=16", "task.data.n_test=8", "task.batch_size=8",
                "optim.lr=0.01", "optim.warmup_steps=2", "optim.min_lr_ratio=0.5"])
    train(run, tmp_path)
    with open(tmp_path / "logs" / "metrics.csv") as fh:
        rows = [row for row in csv.DictReader(fh) if row.get("lr-AdamW/pg1")]
    expected = [0.01 * lr_factor(step, run.optim, 4) for step in range(4)]  # warm-up, then cosine to half
    for group in ("pg1", "pg2"):  # decayed and undecayed parameters
        assert [float(row[f"lr-AdamW/{group}"]) for row in rows] == pytest.approx(expected)


def test_short_training_beats_chance_cell_accuracy(tmp_path):
    # 6x6 Sudoku with 8 blanks: chance on a blank cell is 1/6.
    run = _run(["experiment=sudoku_smoke", *TINY, "model.dim=64", "model.n_heads=4", "train.max_steps=30",
                "train.val_every_steps=30", "task.data.blanks=8", "task.data.n_train=800", "task.data.n_test=200",
                "task.batch_size=32", "optim.lr=3e-3", "optim.warmup_steps=10"])  # measured: cell accuracy 0.40
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


def test_a_resumed_run_keeps_its_whole_log_and_its_clocks(tmp_path):
    """Resumed into its directory (``ckpt_path=auto``: the latest checkpoint if there is one), a run's
    CSV log holds every step once, the validations before the resume too, and its step clocks go on
    from the checkpoint's: the curve a study reads against CPU time is the whole run's."""
    common = ["experiment=sudoku_smoke", *TINY[:2], "logger=csv", "eval_after_fit=false", "train.checkpoint_every_steps=3",
              "train.val_every_steps=3", "train.log_every_steps=1", "task.data.n_train=32", "task.data.n_val=8",
              "task.batch_size=8", "ckpt_path=auto"]
    first = train(_run([*common, "train.max_steps=3"]), tmp_path)
    resumed = train(_run([*common, "train.max_steps=6"]), tmp_path)
    assert resumed.metrics["resumed_from"].endswith("last.ckpt")
    rows = list(csv.DictReader(open(tmp_path / "logs" / "metrics.csv")))
    steps = [int(r["step"]) for r in rows if r.get("train/loss")]
    # every step once, those before the resume kept (Lightning numbers the resumed process's rows from 4)
    assert steps[:3] == [0, 1, 2] and len(steps) == 6 and steps == sorted(set(steps))
    assert len([r for r in rows if r.get("val/score")]) == 2
    cpu = [float(r["perf/train_cpu_time_s"]) for r in rows if r.get("perf/train_cpu_time_s")]
    assert len(cpu) == 6 and all(b > a for a, b in zip(cpu, cpu[1:]))
    assert resumed.metrics["train_step_cpu_time_s"] == pytest.approx(cpu[-1])
    assert resumed.metrics["train_step_cpu_time_s"] > first.metrics["train_step_cpu_time_s"] > 0


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


def test_validation_scores_each_extra_inference_mode_as_a_direct_computation_does(tmp_path):
    """``train.val_modes``: the last validation's ``val/<mode>/cell_acc`` equals the cell accuracy of
    the trained checkpoint's model on the whole validation split in that mode (the solver removed,
    one iteration), and the modes' figures are their own, not the default mode's again."""
    from attractor.evaluation.checkpoint import load_checkpoint
    from attractor.tasks.harness import build_datamodule
    from attractor.tasks.puzzle import PUZZLES, grid_metrics

    run = _run(["experiment=sudoku_smoke", "model=attractor", *TINY, "train.max_steps=30", "train.val_every_steps=30",
                "task.data.n_train=64", "task.data.n_val=32", "task.batch_size=16", "optim.lr=3e-3",
                "train.val_modes=[none,'iters=1']"])
    result = train(run, tmp_path)
    final = result.metrics["final"]
    model = load_checkpoint(result.last_checkpoint).model
    dm = build_datamodule(run)
    dm.setup("validate")
    cells = {}
    with torch.no_grad():
        for mode in ("none", "iters=1", "solver"):
            right = scored = 0
            for batch in dm.val_dataloader():
                m = grid_metrics(PUZZLES["sudoku"], model(batch["inputs"], mode=mode).logits, batch["inputs"], batch["labels"])
                right, scored = right + m["cells_right"].sum(), scored + m["cells_scored"].sum()
            cells[mode] = float(right / scored)
    assert final["val/none/cell_acc"] == pytest.approx(cells["none"], abs=1e-5)
    assert final["val/iters=1/cell_acc"] == pytest.approx(cells["iters=1"], abs=1e-5)
    assert final["val/cell_acc"] == pytest.approx(cells["solver"], abs=1e-5)
    assert max(abs(cells[m] - cells["solver"]) for m in ("none", "iters=1")) > 1e-3  # not the default's figure again
