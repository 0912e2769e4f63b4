"""ACT halting, its targets, stablemax cross-entropy, and accuracy per segment count."""
import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from attractor.evaluation.puzzle import score
from attractor.models import build_model
from attractor.tasks.losses import mean_token_loss, per_sample_loss, stablemax, token_losses
from attractor.tasks.puzzle import PUZZLES, exploration_minimum, halt_decision, label_match


def test_stablemax_matches_its_definition_on_hand_worked_values():
    # s(0) = 1, s(1) = 2, s(-1) = 1/2: probabilities 2/7, 4/7, 1/7
    logits = torch.tensor([[[0.0, 1.0, -1.0], [3.0, 0.0, -3.0]]])
    torch.testing.assert_close(stablemax(logits)[0, 0], torch.tensor([2 / 7, 4 / 7, 1 / 7], dtype=torch.float64))
    labels = torch.tensor([[1, 0]])  # the second token is padding: ignored
    losses = token_losses(logits, labels, "stablemax")
    torch.testing.assert_close(losses, torch.tensor([[-math.log(4 / 7), 0.0]]))
    # s(3) = 4, s(0) = 1, s(-3) = 1/4: p(label 2) = (1/4) / 5.25
    labels = torch.tensor([[1, 2]])
    expected = (-math.log(4 / 7) - math.log(0.25 / 5.25)) / 2
    assert mean_token_loss(logits, labels, "stablemax").item() == pytest.approx(expected, rel=1e-6)
    assert per_sample_loss(logits, labels, "stablemax").item() == pytest.approx(expected, rel=1e-6)


def test_cross_entropy_path_is_the_library_loss():
    logits, labels = torch.randn(2, 5, 4), torch.randint(0, 4, (2, 5))
    reference = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=0)
    assert torch.equal(mean_token_loss(logits, labels, "cross_entropy"), reference)
    torch.testing.assert_close(token_losses(logits, labels, "cross_entropy").sum() / (labels != 0).sum(), reference)


def test_q_target_is_exact_match_on_labelled_cells():
    labels = torch.tensor([[2, 3, 0], [2, 3, 4]])
    logits = F.one_hot(torch.tensor([[2, 3, 1], [2, 3, 3]]), 5).float()
    assert label_match(logits, labels).tolist() == [True, False]


def test_halting_rule():
    q = torch.tensor([1.0, -1.0, 2.0, 0.5])
    minimum = torch.tensor([0, 0, 3, 0])
    assert halt_decision(q, 1, 4, minimum).tolist() == [True, False, False, True]
    assert halt_decision(q, 3, 4, minimum).tolist() == [True, False, True, True]
    assert halt_decision(q, 4, 4, minimum).all()  # the last segment always halts
    torch.manual_seed(0)
    m = exploration_minimum(10_000, 16, 0.1, "cpu")
    explored = m[m > 0]
    assert abs(len(explored) / 10_000 - 0.1) < 0.01 and explored.min() >= 2 and explored.max() <= 16
    assert (exploration_minimum(100, 16, 0.0, "cpu") == 0).all()


def test_score_reports_accuracy_per_segment_and_when_halted():
    torch.manual_seed(0)
    model = build_model(dict(name="trm", vocab_size=6, max_len=16, dim=16, n_heads=2, n_layers=1, h_cycles=1,
                             l_cycles=1)).eval()
    data = [{"inputs": torch.randint(1, 6, (16,)), "labels": torch.randint(2, 6, (16,))} for _ in range(6)]
    with torch.no_grad():  # make one puzzle exactly right after every segment: its labels are the prediction
        pred = model(torch.stack([d["inputs"] for d in data])).logits.argmax(-1)
    data[0]["labels"] = pred[0]
    row = score(model, PUZZLES["sudoku"], data, "solver", 4, "cpu", segments=3)
    assert [s["segments"] for s in row["by_segment"]] == [1, 2, 3]
    assert row["by_segment"][0]["exact_acc"] == pytest.approx(1 / 6)
    assert row["by_segment"][-1]["exact_acc"] == row["exact_acc"]
    # the Q-head starts at -5: nobody halts early, so halting = the last segment
    assert row["halted"]["mean_segments"] == 3 and row["halted"]["exact_acc"] == row["exact_acc"]
    with torch.no_grad():
        model.q_head.bias.fill_(5.0)  # everybody halts after the first segment
    row = score(model, PUZZLES["sudoku"], data, "solver", 4, "cpu", segments=3)
    assert row["halted"]["mean_segments"] == 1 and row["halted"]["exact_acc"] == row["by_segment"][0]["exact_acc"]


def _act_task():
    """A TRM puzzle task with ACT (3 segments) and one training batch, outside a Trainer."""
    from attractor.tasks.config import validate_run
    from attractor.tasks.harness import build_datamodule, build_module
    from tests.conftest import compose_run

    run = validate_run(compose_run(["experiment=sudoku_smoke", "model=trm", "model.dim=16", "model.n_heads=2",
                                    "model.h_cycles=1", "model.l_cycles=1", "train.act=true",
                                    "train.supervision_steps=3", "logger=none", "task.data.n_train=8",
                                    "task.data.n_test=8", "task.batch_size=8"]))
    dm = build_datamodule(run)
    dm.setup("fit")
    return build_module(run), next(iter(dm.train_dataloader()))


def _act_loss(task, batch) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log without a Trainer: nothing to log to
        return task.training_step(batch, 0).item()


def test_q_loss_weight_scales_the_q_heads_loss():
    task, batch = _act_task()
    losses = {}
    for weight in (0.0, 1.0, 2.0):
        task.run.train.q_loss_weight = weight
        losses[weight] = _act_loss(task, batch)
    assert losses[1.0] > losses[0.0]
    assert losses[2.0] - losses[0.0] == pytest.approx(2 * (losses[1.0] - losses[0.0]), rel=1e-4)


def test_halt_exploration_makes_samples_run_past_a_confident_halt():
    task, batch = _act_task()
    with torch.no_grad():
        task.model.q_head.bias.fill_(5.0)  # every sample wants to halt after its first segment
    forward, calls = task.model.forward, []
    task.model.forward = lambda *a, **kw: (calls.append(1), forward(*a, **kw))[1]

    def segments_run(probability: float) -> int:
        task.run.train.halt_exploration = probability
        calls.clear()
        _act_loss(task, batch)
        return len(calls)

    assert segments_run(0.0) == 1 and segments_run(1.0) >= 2  # exploring: a minimum drawn from [2, 3]
