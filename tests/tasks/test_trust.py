"""The training paths a real run takes: EMA on any device and under compile, checkpoints that keep raw
and averaged weights apart, deep-supervision segments, weight decay groups, checkpoint errors,
and skipped steps on divergence. Each test fails on the defect it is named after."""
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from attractor.config import ConfigError
from attractor.evaluation.checkpoint import CheckpointError, load_checkpoint, load_weights
from benchmarks.probes import ValidationWeights
from attractor.evaluation.puzzle import evaluate_checkpoint
from attractor.models import build_model
from attractor.tasks.config import validate_run
from attractor.tasks.ema import EMA
from attractor.tasks.harness import build_module, datamodule_class, train
from attractor.tasks.optim import param_groups
from attractor.tasks.puzzle import segment_outputs
from tests.conftest import compose_run

TINY = ["experiment=sudoku_smoke", "model.dim=32", "model.n_heads=2", "logger=none", "eval_after_fit=false",
        "task.data.n_train=64", "++task.data.n_val=16", "task.data.n_test=16", "task.batch_size=16"]


def _run(overrides):
    cfg = compose_run(overrides)
    return validate_run(cfg, datamodule_class(cfg.task.name))


def test_ema_average_lives_on_the_training_device():
    # Lightning calls `setup` before the strategy moves the module (here: still on the CPU); the
    # average must be made on the device training runs on (meta stands in for a GPU), not the CPU.
    module = build_module(_run(TINY + ["optim.ema_decay=0.9"]))
    ema = EMA(0.9)
    trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("meta")))
    ema.setup(trainer, module, "fit")
    assert {p.device.type for p in ema._average_model.parameters()} == {"meta"}
    assert {p.device.type for p in module.parameters()} == {"cpu"}


@pytest.mark.parametrize("compile", [False, True])
def test_validation_and_checkpoints_use_the_average_and_keep_raw_weights_apart(tmp_path, compile):
    record = ValidationWeights()
    run = _run(TINY + ["optim.ema_decay=0.5", "optim.lr=1e-2", "train.max_steps=4", "train.val_every_steps=4",
                       "train.checkpoint_every_steps=4", f"train.compile={str(compile).lower()}"])
    result = train(run, tmp_path, [record])
    raw = {k: v for k, v in result.model.state_dict().items()}
    for name in ("last.ckpt", "best.ckpt"):  # one validation, at the last step: both hold that step
        loaded_raw = load_checkpoint(tmp_path / "checkpoints" / name, "raw")
        loaded_ema = load_checkpoint(tmp_path / "checkpoints" / name)
        assert loaded_ema.weights == "ema" and loaded_raw.weights == "raw"
        assert all(torch.equal(loaded_raw.model.state_dict()[k], raw[k]) for k in raw), name
        assert all(torch.equal(loaded_ema.model.state_dict()[k], record.weights[k]) for k in raw), name
    moved = [k for k in raw if raw[k].is_floating_point() and not torch.equal(raw[k], record.weights[k])]
    assert moved, "the average equals the raw weights: it never moved"
    report = evaluate_checkpoint(tmp_path / "checkpoints" / "last.ckpt", tmp_path, modes=["solver"])
    assert report["weights"] == "ema"


def test_segments_carry_state_and_evaluation_uses_the_trained_number(tmp_path):
    model = build_model({"name": "looped", "vocab_size": 8, "max_len": 36, "dim": 32, "n_heads": 2, "loops": 3})
    tokens = torch.randint(1, 8, (3, 36))
    two = segment_outputs(model, tokens, 2)
    assert torch.allclose(two[-1].logits, model(tokens, mode="iters=6").logits, atol=1e-6)
    assert not torch.allclose(two[0].logits, two[1].logits, atol=1e-3)
    run = _run(TINY + ["model=looped", "train.supervision_steps=2", "train.max_steps=2", "train.val_every_steps=2"])
    train(run, tmp_path)
    report = evaluate_checkpoint(tmp_path / "checkpoints" / "last.ckpt", tmp_path, modes=["solver"])
    assert report["segments"] == 2 and report["mean_iterations"] == 2 * run.model.loops


@pytest.mark.parametrize("model", ["attractor", "transformer"])
def test_segments_that_repeat_one_computation_are_refused(model):
    with pytest.raises(ConfigError) as err:
        _run(TINY + [f"model={model}", "train.supervision_steps=4"])
    assert err.value.key == "train.supervision_steps"


def test_weight_norm_gains_are_not_decayed():
    model = build_model({"name": "attractor", "vocab_size": 8, "max_len": 16, "dim": 16, "n_heads": 2,
                         "f_norm": "weight"})
    decayed, undecayed = (set(map(id, g["params"])) for g in param_groups(model, 0.1))
    for name, p in model.named_parameters():
        if name.endswith("original0"):
            assert id(p) in undecayed, name
        if name.endswith("original1"):
            assert id(p) in decayed, name


def test_checkpoint_errors_name_the_key_and_both_shapes(tmp_path):
    small = build_model({"name": "attractor", "vocab_size": 8, "max_len": 16, "dim": 16, "n_heads": 2})
    wide = build_model({"name": "attractor", "vocab_size": 8, "max_len": 16, "dim": 32, "n_heads": 2})
    with pytest.raises(CheckpointError, match=r"'gate_logit' has shape \(32,\) in the checkpoint, \(16,\) in the model"):
        load_weights(small, wide.state_dict(), "ckpt")
    looped = build_model({"name": "looped", "vocab_size": 8, "max_len": 16, "dim": 16, "n_heads": 2})
    with pytest.raises(CheckpointError, match="weights lack 'gate_logit'"):
        load_weights(small, looped.state_dict(), "ckpt")


class InjectDivergence(Callback):
    """Scales the map so that the solve overflows, for one step only."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, *args) -> None:
        self.active = trainer.global_step == self.step
        if self.active:
            self.before = {k: v.clone() for k, v in pl_module.model.state_dict().items()}
            self.forward = pl_module.model.f_blocks.forward
            pl_module.model.f_blocks.forward = lambda *a, **kw: self.forward(*a, **kw) * 1e30

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        if self.active:
            pl_module.model.f_blocks.forward = self.forward
            self.after = {k: v.clone() for k, v in pl_module.model.state_dict().items()}


def test_solver_divergence_skips_the_step_and_never_writes_nan(tmp_path):
    inject = InjectDivergence(step=2)
    run = _run(TINY + ["optim.ema_decay=0.9", "train.max_steps=4", "train.val_every_steps=4"])
    result = train(run, tmp_path, [inject])
    assert result.metrics["steps"] == 4 and result.metrics["skipped_steps"] == 1
    assert all(torch.equal(inject.before[k], inject.after[k]) for k in inject.before)
    for weights in ("raw", "ema"):
        model = load_checkpoint(result.last_checkpoint, weights).model
        assert all(torch.isfinite(p).all() for p in model.parameters()), weights


def test_debug_tiny_caps_solver_iterations_and_keeps_the_backward_mode():
    run = _run(["experiment=lm_gpu_ref", "debug=tiny", "logger=none"])
    assert run.solver.max_iter == 12 and run.solver.b_max_iter == 12
    assert run.solver.backward == "neumann"
