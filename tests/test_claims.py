"""The claims' evidence: seed-paired differences and the per-run JSON kept under docs/results."""
import pytest

from attractor.stats import seed_interval
from benchmarks.claims import bucket_mean, copy_run_json, paired


def test_paired_differences_are_per_seed_with_the_seeds_t_interval():
    p = paired({0: 0.5, 1: 0.7, 2: 0.4}, {0: 0.2, 1: 0.3, 2: 0.3})
    assert p["diffs"] == pytest.approx([0.3, 0.4, 0.1]) and p["mean"] == pytest.approx(0.8 / 3)
    assert p["ci95"] == pytest.approx(list(seed_interval([0.3, 0.4, 0.1])))
    assert paired({0: 0.5}, {0: 0.2, 1: 0.3}) is None  # one shared seed: no interval


def test_bucket_mean_pools_the_named_depths_only():
    rows = [{"depth": d, "exact_acc": a} for d, a in ((1, 0.9), (2, 0.5), (4, 0.1), (-1, 0.0))]
    assert bucket_mean(rows, (1, 2)) == pytest.approx(0.7) and bucket_mean(rows, (4, -1)) == pytest.approx(0.05)


def test_only_small_json_is_copied(tmp_path):
    run = tmp_path / "out" / "looped-s0"
    for name in ("metrics.json", "eval.json", "depth/eval.json", "tol0.01/eval.json", "scaling/test/scaling.json",
                 "checkpoints/best.ckpt"):
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text("{}")
    copy_run_json(tmp_path / "out", ["looped-s0"], tmp_path / "kept")
    kept = sorted(str(p.relative_to(tmp_path / "kept" / "looped-s0")) for p in (tmp_path / "kept").rglob("*") if p.is_file())
    assert kept == ["depth/eval.json", "eval.json", "metrics.json", "tol0.01/eval.json"]
