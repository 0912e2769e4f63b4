"""Scores by reasoning depth: buckets, Wilson intervals, the iterations-depth correlation, plots."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from attractor.data.dataset import GridDataset
from attractor.data.sudoku.depth import NEEDS_SEARCH, propagation_depth
from attractor.data.sudoku.generate import generate
from attractor.evaluation.depth import (by_depth, depth_order, iterations_vs_depth, plot_accuracy_by_depth,
                                        plot_iterations_by_depth, plot_sweep_by_depth)
from attractor.evaluation.puzzle import score
from attractor.models import ModelOutput
from attractor.stats import wilson_interval
from attractor.tasks.puzzle import PUZZLES


class ShallowOracle(torch.nn.Module):
    """Answers puzzles of depth <= 2 right (from the solution it is handed) and copies the rest; its
    'iterations' are the puzzle's depth rank, so compute tracks depth exactly, and its Q-head says
    'halt' on the shallow puzzles only."""

    def __init__(self, q: np.ndarray, a: np.ndarray):
        super().__init__()
        self.answers = {qi.tobytes(): ai for qi, ai in zip(q, a)}

    def forward(self, inputs, mode=None, state=None):
        codes = inputs.numpy() - 1
        depth = propagation_depth(codes)
        grids = np.stack([self.answers[c.astype(np.uint8).tobytes()] if 1 <= d <= 2 else c for c, d in zip(codes, depth)])
        logits = F.one_hot(torch.as_tensor(grids.astype(np.int64)) + 1, 8).float()
        shallow = torch.as_tensor((depth >= 1) & (depth <= 2))
        return ModelOutput(logits, {"iterations": torch.as_tensor(depth_order(depth), dtype=torch.float32),
                                    "q_halt": shallow.float() * 2 - 1})


def test_by_depth_buckets_with_search_last():
    depths = np.array([2, 1, NEEDS_SEARCH, 2, 1, 1])
    solved = np.array([1, 1, 0, 0, 1, 0], bool)
    iters = np.array([4, 2, 9, 6, 2, 2])
    rows = by_depth(depths, solved, iters)
    assert [r["depth"] for r in rows] == [1, 2, NEEDS_SEARCH]
    assert [(r["n_items"], r["exact_acc"], r["mean_iterations"]) for r in rows] == [(3, 2 / 3, 2.0), (2, 0.5, 5.0),
                                                                                      (1, 0.0, 9.0)]
    assert rows[0]["exact_ci95"] == list(wilson_interval(2, 3))
    cells = np.array([[3, 4], [1, 2], [0, 5], [1, 4], [2, 2], [0, 6]])  # (right, scored) per item
    assert [r["cell_acc"] for r in by_depth(depths, solved, iters, cells)] == [3 / 10, 4 / 8, 0.0]
    per_segment = np.stack([~solved, solved], axis=1)  # wrong after one segment exactly where right after two
    assert [r["by_segment"] for r in by_depth(depths, per_segment, iters)] == [[1 / 3, 2 / 3], [0.5, 0.5], [1.0, 0.0]]


def test_iterations_vs_depth_ranks_search_deepest_and_skips_fixed_compute():
    depths = np.array([1, 2, 3, NEEDS_SEARCH])
    assert iterations_vs_depth(depths, np.array([1.0, 2.0, 3.0, 4.0]))["spearman_rho"] == pytest.approx(1.0)
    assert iterations_vs_depth(depths, np.array([4.0, 3.0, 2.0, 1.0]))["spearman_rho"] == pytest.approx(-1.0)
    assert iterations_vs_depth(depths, np.full(4, 8.0)) is None  # a fixed-depth model: nothing to correlate
    assert iterations_vs_depth(np.array([2, 2]), np.array([1.0, 3.0])) is None


def test_score_reports_accuracy_and_iterations_per_depth(tmp_path):
    gs = generate(24, size=6, seed=0, blanks=(8, 24), depths=[1, 2, 3, 4])
    model = ShallowOracle(gs.q, gs.a)
    result = score(model, PUZZLES["sudoku"], GridDataset(gs), "solver", batch_size=7, device="cpu")
    assert [(r["depth"], r["n_items"], r["exact_acc"]) for r in result["by_depth"]] == [
        (1, 6, 1.0), (2, 6, 1.0), (3, 6, 0.0), (4, 6, 0.0)]
    assert result["exact_acc"] == pytest.approx(0.5)
    assert [r["mean_iterations"] for r in result["by_depth"]] == [1.0, 2.0, 3.0, 4.0]
    assert [r["cell_acc"] for r in result["by_depth"]] == [1.0, 1.0, 0.0, 0.0]  # copied blanks are all wrong
    assert result["iterations_vs_depth"]["spearman_rho"] == pytest.approx(1.0)
    halted = score(model, PUZZLES["sudoku"], GridDataset(gs), "solver", 7, "cpu", segments=3)["halted"]
    assert [(r["exact_acc"], r["mean_iterations"]) for r in halted["by_depth"]] == [(1, 1), (1, 1), (0, 3), (0, 3)]
    assert halted["segments_vs_depth"]["spearman_rho"] == pytest.approx(np.sqrt(0.8))  # halting ties depths 1-2 and 3-4: ranks 6.5, 18.5 vs 3.5 .. 21.5
    sweep = [result, {**result, "mean_iterations": 8.0}]
    plot_sweep_by_depth(sweep, tmp_path / "sweep.png", "t")
    plot_accuracy_by_depth({"oracle": result["by_depth"]}, tmp_path / "acc.png", "t", trained_max=2)
    plot_iterations_by_depth({"oracle": result["by_depth"]}, tmp_path / "it.png", "t")
    assert all((tmp_path / f).stat().st_size > 1000 for f in ("sweep.png", "acc.png", "it.png"))
