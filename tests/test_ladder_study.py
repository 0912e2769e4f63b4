"""The depth-ladder study: its configs, FLOPs per step, and the per-depth summary built from eval.json."""
import json

import pytest

from attractor.compose import compose
from attractor.models import build_model
from attractor.stats import seed_interval
from attractor.tasks.config import validate_run
from attractor.tasks.harness import datamodule_class
from benchmarks import ladder
from benchmarks.flops import train_step_flops
from benchmarks.reasoners import LADDER


def test_ladder_models_compose_at_equal_parameters():
    counts = {}
    for model in LADDER.models:
        cfg = compose([o for o in LADDER.overrides(model, 0) if not o.startswith("hydra.")])
        run = validate_run(cfg, datamodule_class("sudoku"))
        assert run.task.data["train_depths"] == [1, 2, 3] and run.task.data["test_depths"][-1] == -1
        counts[model] = sum(p.numel() for p in build_model(run.model).parameters())
    assert all(abs(c / counts["transformer"] - 1) <= 0.02 for c in counts.values()), counts


def test_flops_of_one_block_match_the_hand_count():
    base = ["model=transformer", "task.data.size=4", "task.data.blanks=6", "task.data.n_train=16", "task.data.n_val=4",
            "task.data.n_test=4", "task.batch_size=8", "model.dim=32", "model.n_heads=2"]
    one, two = (train_step_flops([*base, f"model.n_layers={k}"])["flops_per_step"] for k in (1, 2))
    b, t, d, hidden = 8, 16, 32, 88  # batch, cells, width, SwiGLU width (2/3 of 4d rounded up to 8)
    forward = 2 * b * t * (4 * d * d + 3 * d * hidden) + 2 * 2 * b * t * t * d  # projections, MLP; QK^T and AV
    assert two - one == 3 * forward  # backward: a gradient for the input and one for the weight per product


def _eval(tmp_path, name, accs, iterations):
    rows = [{"depth": d, "n_items": 10, "exact_acc": a, "exact_ci95": [max(0, a - 0.1), min(1, a + 0.1)],
             "mean_iterations": i, "by_segment": [a / 2, a], "cell_acc": (1 + a) / 2} for d, a, i in zip((1, 2, -1), accs, iterations)]
    corr = {"spearman_rho": 0.5, "p_value": 0.01, "n_items": 30} if len(set(iterations)) > 1 else None
    sweep = [{"mode": m, "mean_iterations": k, "by_depth": rows, "iterations_vs_depth": corr}
             for m, k in (("iters=2", 2.0), ("solver", 5.0))]
    run = tmp_path / name
    (run / "depth").mkdir(parents=True)
    (run / "eval.json").write_text(json.dumps({"sweep": sweep}))
    halted = {"by_depth": rows, "segments_vs_depth": corr}
    (run / "depth" / "eval.json").write_text(json.dumps({"sweep": [{"by_depth": rows, "halted": halted}]}))
    (run / "tol0.01").mkdir()
    loose = {"mode": "solver", "exact_acc": 0.4, "mean_iterations": 7.0, "by_depth": rows, "iterations_vs_depth": corr}
    (run / "tol0.01" / "eval.json").write_text(json.dumps({"solver_overrides": {"tol": 0.01, "max_iter": 64},
                                                           "sweep": [loose]}))
    return ladder.depth_entry(run)


def test_summary_means_seeds_per_depth_and_renders_tables_and_plots(tmp_path):
    runs = {"attractor-s0": {"depth": _eval(tmp_path, "attractor-s0", (0.9, 0.5, 0.0), (3, 5, 9))},
            "attractor-s1": {"depth": _eval(tmp_path, "attractor-s1", (0.7, 0.3, 0.1), (3, 5, 9))}}
    rows = ladder.model_depth_row(list(runs.values()))
    assert [r["exact_acc"] for r in rows] == pytest.approx([0.8, 0.4, 0.05])
    assert rows[0]["exact_ci95"] == pytest.approx(list(seed_interval([0.9, 0.7])))
    summary = {"table": {"attractor": {"by_depth": rows, "flops_per_step": 2.5e9}}, "runs": runs, "trained_max_depth": 2}
    text = ladder.render_depth(summary)
    assert "| search |" in text and "| attractor | 2.50 G | 80.0 [" in text
    assert "| attractor-s0 | solver (5.0) | 90.0 | 50.0 | 0.0 |" in text
    assert "| attractor | 90.0 | 70.0 | 52.5 |" in text  # cell %, mean over seeds
    assert "| attractor-s1 | 0.500 | 0.01 | 30 |" in text  # iterations vs depth
    assert "| attractor-s1 | 70.0 (3.00) | 30.0 (5.00) | 10.0 (9.00) | 0.500 |" in text  # ACT halting by depth
    assert "| attractor-s0 | 0.01 | 90.0 (3.0) | 50.0 (5.0) | 0.0 (9.0) | 0.500 |" in text  # looser tolerance
    assert "| attractor-s0 | 1 | 45.0 | 25.0 | 0.0 |" in text  # after one segment
    written = ladder.plot_study(summary, tmp_path / "ladder", 2)
    assert written == ["ladder_accuracy_by_depth.png", "ladder_iterations_by_depth.png", "ladder_segments_by_depth.png",
                       "ladder_attractor_iterations_by_depth_sweep.png"]
    assert all((tmp_path / f).stat().st_size > 1000 for f in written)
