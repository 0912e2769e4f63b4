"""The solve-health callback on real training runs: recovery from an injected divergence, the stop
when recovery cannot help, the low-convergence warning, what metrics.json, eval.json and checkpoints
record, and the backward warm-up switching where it should."""
import json
import math

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from attractor.evaluation.puzzle import evaluate_checkpoint
from attractor.tasks.harness import train
from attractor.tasks.solve_health import SolveDivergedError
from tests.tasks.test_trust import TINY, _run

RUN = TINY + ["train.max_steps=8", "train.val_every_steps=2", "train.checkpoint_every_steps=8"]


class ScaleMap(Callback):
    """Multiplies the attractor map's blocks by ``scale`` in training steps [start, stop): NaN makes
    the loss non-finite; 1e30 overflows the solve (diverged rows, the loss stays finite); -200 makes
    the map expand, so the solve blows up though it stays finite (-200 against the gate of 0.1)."""

    def __init__(self, start: int, stop: int = 10**9, scale: float = float("nan")):
        self.start, self.stop, self.scale, self.lrs = start, stop, scale, {}

    def on_train_batch_start(self, trainer, pl_module, *args) -> None:
        blocks = pl_module.model.f_blocks
        self.forward = blocks.forward
        if self.start <= trainer.global_step < self.stop:
            blocks.forward = lambda *a, **kw: self.forward(*a, **kw) * self.scale
        self.lrs[trainer.global_step] = trainer.optimizers[0].param_groups[0]["lr"]

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        pl_module.model.f_blocks.forward = self.forward


def test_a_divergence_is_recovered_from_the_last_good_state_with_a_lower_lr(tmp_path):
    inject = ScaleMap(start=3, stop=4)
    result = train(_run(RUN), tmp_path, [inject])
    health = result.metrics["solve_health"]
    assert health["recoveries"] == 1 and not health["stopped"]
    (event,) = [e for e in health["events"] if e["kind"] == "recovered"]
    assert event["step"] == 3 and event["reason"] == "non-finite loss"
    assert event["restored_step"] == 2 and event["lr_scale"] == 0.5  # the snapshot at the validation after 2 steps
    # the schedule goes on from the halved base rate: lr(step) / lr_before(step) = 0.5 after the recovery
    from attractor.tasks.optim import lr_factor
    run = _run(RUN)
    for step in (5, 6, 7):
        assert inject.lrs[step] == pytest.approx(0.5 * run.optim.lr * lr_factor(step, run.optim, run.train.max_steps))
    assert all(torch.isfinite(p).all() for p in result.model.parameters())
    assert math.isfinite(result.metrics["final"]["train/loss"])
    saved = json.loads((tmp_path / "metrics.json").read_text())["solve_health"]
    assert saved["recoveries"] == 1 and set(saved["val"]) >= {"converged_frac", "residual_p90", "diverged_frac"}
    # the callback's history travels with the checkpoint, so a resumed run reports it
    ckpt = torch.load(result.last_checkpoint, map_location="cpu", weights_only=True)
    (state,) = [v for k, v in ckpt["callbacks"].items() if "SolveHealth" in k]
    assert state["recoveries"] == 1


def test_a_finite_blow_up_on_consecutive_steps_triggers_recovery(tmp_path):
    for scale in (1e30, -200.0):  # overflow caught by the solver; an expanding map, finite throughout
        run = _run(RUN + ["train.solve_health.diverged_steps=2"])
        result = train(run, tmp_path / str(scale), [ScaleMap(start=3, stop=5, scale=scale)])
        (event,) = [e for e in result.metrics["solve_health"]["events"] if e["kind"] == "recovered"]
        assert event["reason"] == "diverged rows on 2 consecutive steps" and event["step"] == 4
        assert event["diverged_frac"] > 0 and math.isfinite(result.metrics["final"]["train/loss"])


def test_a_run_that_cannot_recover_stops_with_a_message_naming_step_residual_and_remedies(tmp_path):
    run = _run(RUN + ["train.solve_health.max_recoveries=1"])
    with pytest.raises(SolveDivergedError, match=r"step 4: the solve diverged \(non-finite loss; median residual .*"
                                                  r"after 1 recoveries .*max_recoveries=1.*optim.lr.*adjoint_clip"):
        train(run, tmp_path, [ScaleMap(start=3)])
    health = json.loads((tmp_path / "metrics.json").read_text())["solve_health"]
    assert health["stopped"] and [e["kind"] for e in health["events"]] == ["recovered", "stopped"]


def test_low_convergence_warns_once_and_is_counted(tmp_path):
    run = _run(RUN + ["solver.tol=1e-12", "solver.max_iter=4"])  # a tolerance no solve meets
    with pytest.warns(UserWarning, match="truncated unroll") as caught:
        result = train(run, tmp_path)
    assert sum("truncated unroll" in str(w.message) for w in caught) == 1
    health = result.metrics["solve_health"]
    assert health["low_convergence_validations"] == 4 and health["val"]["converged_frac"] == 0.0


def test_solver_free_models_get_no_callback(tmp_path):
    result = train(_run(RUN + ["model=transformer"]), tmp_path)
    assert "solve_health" not in result.metrics


def test_eval_json_reports_solve_health_per_mode_and_depth(tmp_path):
    result = train(_run(RUN), tmp_path)
    report = evaluate_checkpoint(result.last_checkpoint, tmp_path / "eval", modes=["none", "iters=2", "solver"])
    by_mode = {s["mode"]: s for s in report["sweep"]}
    assert by_mode["none"]["solve"] is None and "converged_frac" not in by_mode["none"]["by_depth"][0]
    solver = by_mode["solver"]["solve"]
    assert solver["rows"] == report["n_items"] and 0 <= solver["converged_frac"] <= 1
    assert report["solve"] == solver
    assert all("converged_frac" in row for row in by_mode["iters=2"]["by_depth"])
    # two fixed iterations from the proposal rarely reach a tolerance the adaptive solve meets
    assert by_mode["iters=2"]["solve"]["iterations_max"] == 2


def test_backward_warmup_switches_the_models_gradient_mode_at_its_step(tmp_path):
    class Record(Callback):
        modes = {}

        def on_train_batch_end(self, trainer, pl_module, *args) -> None:
            self.modes[trainer.global_step - 1] = pl_module.model.cfg.solver.backward

    record = Record()
    train(_run(RUN + ["solver.backward_warmup=unrolled", "solver.backward_warmup_steps=3"]), tmp_path, [record])
    assert [record.modes[s] for s in range(6)] == ["unrolled"] * 3 + ["implicit"] * 3
