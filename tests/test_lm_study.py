"""The LM study's summary: validation curves against training time, flatness, time to a target loss."""
import pytest

from benchmarks import lm_study
from benchmarks.lm_study import time_to_reach, val_curve
from benchmarks.reasoners import flatness


def _metrics(run_dir, rows):
    (run_dir / "logs").mkdir(parents=True)
    header = "epoch,perf/train_time_s,step,train/loss,val/loss\n"
    (run_dir / "logs" / "metrics.csv").write_text(header + "".join(f"0,{r}\n" for r in rows))


def test_val_curve_pairs_each_validation_with_the_training_time_before_it(tmp_path):
    # train rows every 10 steps (time 1 s per 10 steps); validations at steps 19 and 39 on their own rows
    _metrics(tmp_path, ["1.0,9,3.0,", "2.0,19,2.5,", ",19,,2.4", "3.0,29,2.2,", "4.0,39,2.0,", ",39,,1.9"])
    curve = val_curve(tmp_path)
    assert curve == [{"step": 19, "val_loss": 2.4, "train_time_s": 2.0}, {"step": 39, "val_loss": 1.9, "train_time_s": 4.0}]
    assert time_to_reach(curve, 2.0) == 4.0 and time_to_reach(curve, 2.4) == 2.0 and time_to_reach(curve, 1.0) is None
    assert time_to_reach(curve, 2.0, "step") == 40  # steps done: the 0-based step index + 1


def test_flatness_is_the_change_over_the_last_fifth_of_steps():
    curve = [{"step": s, "val_loss": v} for s, v in ((99, 3.0), (799, 2.0), (899, 1.9), (999, 1.85))]
    assert flatness(curve, 1000, "val_loss") == pytest.approx(-0.15)
    assert flatness(curve[:1], 1000, "val_loss") is None


def test_every_study_model_sits_within_two_percent_of_the_transformer():
    from attractor.compose import compose
    from attractor.models import build_model
    counts = {m: sum(p.numel() for p in build_model(compose(o).model).parameters()) for m, o in lm_study.MODELS.items()}
    assert all(abs(c / counts["transformer"] - 1) <= 0.02 for c in counts.values()), counts
