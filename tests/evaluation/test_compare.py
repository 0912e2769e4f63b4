import json

import pytest

from attractor.evaluation.compare import load_run, main, summarise


def _write_run(root, name, model, seed, exact, none_exact=None):
    run = root / f"{name}-s{seed}"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"name": f"{name}-s{seed}", "model": model, "parameters": 1000,
                                                  "train_time_s": 10.0 + seed, "peak_memory_bytes": None}))
    sweep = [{"mode": "solver", "exact_acc": exact}] + ([{"mode": "none", "exact_acc": none_exact}] if none_exact is not None else [])
    (run / "eval.json").write_text(json.dumps({"exact_acc": exact, "cell_acc": 0.5, "mean_iterations": 4.0,
                                               "n_items": 100, "sweep": sweep}))
    return run


def test_seeds_group_into_one_row_with_mean_and_std(tmp_path):
    dirs = [_write_run(tmp_path, "cmp-attractor", "attractor", s, e, e - 0.1) for s, e in enumerate([0.5, 0.6, 0.7])]
    dirs.append(_write_run(tmp_path, "cmp-transformer", "transformer", 0, 0.4))
    rows = summarise([load_run(d) for d in dirs])
    assert [r["run"] for r in rows] == ["cmp-attractor", "cmp-transformer"]
    assert rows[0]["seeds"] == 3 and rows[0]["exact_pct"] == "60.0 ± 10.0"
    assert rows[0]["solver_removed_exact_pct"] == "50.0 ± 10.0"
    assert rows[1]["solver_removed_exact_pct"] == "–" and rows[1]["exact_pct"] == "40.0"
    out = tmp_path / "table.md"
    main([*map(str, dirs), "--out", str(out)])
    assert "| cmp-attractor | attractor | 3 |" in out.read_text()
    assert out.with_suffix(".png").stat().st_size > 0


def test_missing_eval_json_is_named(tmp_path):
    run = _write_run(tmp_path, "x", "looped", 0, 0.1)
    (run / "eval.json").unlink()
    with pytest.raises(FileNotFoundError, match="no eval.json"):
        load_run(run)
