"""Every benchmark script runs its smallest real configuration and writes the JSON it promises, and
runs as a file from any directory (`python benchmarks/X.py`, the form that needs the scripts'
sys.path idiom).

The real runs go through `runpy` in this process, as `python -m benchmarks.X` does, so torch and
the package are imported once; the file form runs in one more interpreter for all the scripts."""
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
SCRIPTS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if '__name__ == "__main__"' in p.read_text())
# Scripts whose smallest real configuration another test runs end to end.
COVERED_ELSEWHERE = {"gibbs_synthetic": "tests/gibbs/test_study.py::test_whole_command_at_toy_size"}


def run_script(name: str, args: list[str], monkeypatch, capsys) -> str:
    """``python -m benchmarks.<name> ARGS`` in this process; its standard output."""
    monkeypatch.setattr(sys, "argv", [f"benchmarks/{name}.py", *map(str, args)])
    capsys.readouterr()
    try:
        runpy.run_module(f"benchmarks.{name}", run_name="__main__", alter_sys=True)
    except SystemExit as done:
        assert done.code in (None, 0), f"{name} exited with {done.code}"
    return capsys.readouterr().out


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def check_convergence_report(tmp, run):
    """One real (tiny) run of the study's layout: training with its CSV log, then its evaluation."""
    from attractor.compose import compose
    from attractor.evaluation.puzzle import evaluate_checkpoint
    from attractor.tasks.config import validate_run
    from attractor.tasks.harness import datamodule_class, train

    run_dir = tmp / "runs" / "sudoku-attractor-s0"
    cfg = compose(["experiment=sudoku_smoke", "debug=tiny", "logger=csv", "eval_after_fit=false"])
    train(validate_run(cfg, datamodule_class("sudoku")), run_dir)
    evaluate_checkpoint(run_dir / "checkpoints" / "best.ckpt", run_dir / "eval", modes=["none", "solver"])
    run(["--runs", tmp / "runs", "--json", tmp / "c.json", "--tables", tmp / "c.md"])
    (entry,) = read(tmp / "c.json")["runs"]
    assert entry["steps"] == 8 and 0 <= entry["test_solve"]["converged_frac"] <= 1 and entry["test_none"] is not None
    assert "sudoku-attractor" in read(tmp / "c.json")["table"] and (tmp / "c.md").stat().st_size > 0


def check_data_generation(tmp, run):
    run(["--count", 3, "--json", tmp / "d.json"])
    d = read(tmp / "d.json")
    assert d["count"] == 3 and d["maze_path_moves"]["n"] == 3 and d["maze_path_moves"]["min"] > 110
    assert d["sudoku_seconds"] > 0 and 17 <= d["sudoku_clues_mean"] < 81


def check_decoding_cost(tmp, run):
    pytest.importorskip("transformers")
    run(["--k", 2, "--new-tokens", 4, "--hidden-size", 16, "--layers", 2, "--vocab", 300, "--repeats", 1,
         "--json", tmp / "d.json"])
    d = read(tmp / "d.json")
    assert d["k"] == 2 and d["new_tokens"] == 4 and d["plain_generate_s"] > 0 and d["energy_overhead_fraction"] > 0


def check_flops(tmp, run):
    small = ["model=transformer", "task.data.n_train=8", "task.data.n_val=4", "task.data.n_test=4"]
    a = json.loads(run([*small, "task.batch_size=2"]).strip().splitlines()[-1])
    b = json.loads(run([*small, "task.batch_size=4"]).strip().splitlines()[-1])
    assert a["batch_size"] == 2 and b["flops_per_step"] == pytest.approx(2 * a["flops_per_step"], rel=0.01)


def check_generation(tmp, run):
    run(["--dim", 16, "--n-heads", 2, "--new-tokens", 3, "--repeats", 1, "--contexts", 4, "--json", tmp / "g.json"])
    d = read(tmp / "g.json")
    models = [k for k in d if k not in ("details", "setup")]
    assert len(models) >= 3 and all(d[m]["ctx"]["4"]["identical"] for m in models), d  # cache = no cache


def check_gpu_throughput(tmp, run):
    """The GPU script's CPU dry run: the preset's model at debug sizes, its page written."""
    run(["--tiny", "--experiments", "lm_gpu_ref", "--steps", 1, "--warmup", 1, "--split-steps", 1, "--f-repeats", 1,
         "--json", tmp / "g.json", "--page", tmp / "g.md"])
    d = read(tmp / "g.json")
    assert d["lm_gpu_ref"]["eager"]["tokens_per_s"] > 0 and d["lm_gpu_ref"]["overhead_ratio"] > 0
    assert "lm_gpu_ref" in (tmp / "g.md").read_text()


def check_gradcheck(tmp, run):
    run(["--json", tmp / "g.json"])
    d = read(tmp / "g.json")
    assert d["implicit"]["cosine"] > 0.999 and d["implicit"]["rel_error"] < 1e-3
    assert {"neumann", "phantom", "last_k"} <= set(d)


def check_graph_breaks(tmp, run):
    """The fixed-iteration last_k step: one graph, no break (docs/results/graph_breaks_cpu.md)."""
    run(["--models", "attractor/last_k", "--dim", 16, "--seq-len", 8, "--batch", 2, "--json", tmp / "g.json"])
    f = read(tmp / "g.json")["attractor/last_k"]
    assert f["block"]["graph_breaks"] == 0 and f["forward"]["graph_breaks"] == 0 and f["forward"]["graphs"] == 1


def check_lm_eval_study(tmp, run):
    """Rebuilds the published summary from each model's metrics.json and lm_eval.json."""
    published = read(RESULTS / "lm_eval_cpu.json")
    runs = tmp / "outputs" / "lm_eval_cpu"
    for model, m in published["models"].items():
        (runs / f"{model}-s0").mkdir(parents=True)
        write_json(runs / f"{model}-s0" / "metrics.json", {
            "steps": m["steps"], "train_time_s": m["train_wall_s"], "train_cpu_time_s": m["train_cpu_s"],
            "final": {"val/loss": m["val_loss"]}})
        write_json(runs / f"{model}-s0" / "lm_eval.json", {"parameters": m["parameters"], "source": m["checkpoint"],
                                                           "seconds": m["seconds"], "table": m["table"]})
    write_json(runs / "tasks" / "counts.json", {"documents": published["documents"]})
    run(["--summarise-only", "--outputs", tmp / "outputs", "--results", tmp])
    d = read(tmp / "lm_eval_cpu.json")
    assert {k: d[k] for k in ("models", "documents", "tasks", "steps")} == \
        {k: published[k] for k in ("models", "documents", "tasks", "steps")}
    tables, kept = ((path / "lm_eval_cpu_tables.md").read_text().splitlines() for path in (tmp, RESULTS))
    assert [line for line in tables if not line.startswith("Commit")] == [line for line in kept if not line.startswith("Commit")]


def check_lm_throughput(tmp, run):
    run(["--batch", 1, "--dim", 16, "--n-heads", 2, "--warmup", 0, "--steps", 1, "--json", tmp / "t.json"])
    d = read(tmp / "t.json")
    assert all(d[m]["tokens_per_s"] > 0 for m in d["setup"]["configs"])


def check_memory(tmp, run):
    run(["--dim", 16, "--batch", 1, "--seq-len", 8, "--depths", 2, 16, "--json", tmp / "m.json"])
    d = read(tmp / "m.json")
    # implicit differentiation: the attractor's memory stays flat in depth, backprop through time grows
    assert d["ratio_16_over_2"]["attractor"] < 2 < d["ratio_16_over_2"]["looped"]


def check_params(tmp, run):
    run(["--json", tmp / "p.json"])
    d = read(tmp / "p.json")
    assert set(d) == {p.stem for p in (ROOT / "configs" / "experiment").glob("*.yaml")} and min(d.values()) > 0


def check_parity(tmp, run):
    text = tmp / "text.txt"
    text.write_text("To be, or not to be, that is the question. " * 40)
    run(["--models", "ours_ref", "ours_default", "--steps", 2, "--seeds", 0, "--dim", 16, "--heads", 2,
         "--layers", 1, 1, "--batch-size", 2, "--seq-len", 16, "--warmup", 1, "--val-every", 2, "--val-windows", 2,
         "--log-every", 1, "--tail", 1, "--text", text, "--json", tmp / "p.json"])
    d = read(tmp / "p.json")
    assert set(d["runs"]["0"]) == {"ours_ref", "ours_default"} and len(d["runs"]["0"]["ours_ref"]["train_loss"]) == 2


def check_rmsnorm(tmp, run):
    run(["--rounds", 2, "--shapes", 2, 3, 8, "--json", tmp / "r.json"])
    d = read(tmp / "r.json")["2x3x8"]
    assert d["max_abs_diff_out"] < 1e-6 and d["max_abs_diff_grad_x"] < 1e-6 and d["ours_s"] > 0 < d["torch_s"]


def check_solver(tmp, run):
    run(["--max-iter", 8, "--tol", 1e-3, "--dim", 16, "--batch", 2, "--repeats", 1, "--json", tmp / "s.json",
         "--plot", tmp / "s.png"])
    d = read(tmp / "s.json")
    solvers = [k for k in d if k != "setup"]
    assert len(solvers) >= 3 and all(1 <= d[s]["mean_iterations"] <= 8 for s in solvers)
    assert (tmp / "s.png").stat().st_size > 0


def check_step_time(tmp, run):
    run(["--batch", 1, "--seq-len", 8, "--dim", 16, "--n-heads", 2, "--iterations", 2, "--warmup", 1, "--rounds", 1,
         "--compile", "eager", "--json", tmp / "s.json"])
    d = read(tmp / "s.json")
    assert d["transformer"]["eager"]["ratio_to_transformer"] == 1.0
    assert all(d[v]["eager"]["step_s_median"] > 0 for v in d["setup"]["configs"])


def check_synthetic_decoding(tmp, run):
    """Write a corpus, train a tiny char LM of ours on it (train.py's harness), decode its held-out
    problems: the per-K table of every method on the same particles."""
    from attractor.compose import compose
    from attractor.tasks.config import validate_run
    from attractor.tasks.harness import datamodule_class, train

    run(["corpus", "--out", tmp / "corpus", "--n-train", 200, "--n-eval", 3, "--arith-steps", 1, "--arith-max-value", 20])
    meta = read(tmp / "corpus" / "corpus.json")
    cfg = compose(["experiment=lm_smoke", "model=transformer", "debug=tiny", "logger=none", "eval_after_fit=false",
                   f"task.data.inputs=[{tmp / 'corpus' / 'train.txt'}]", f"task.vocab_size={meta['vocab_size']}",
                   f"task.data.prepare_dir={tmp / 'prepared'}"])
    train(validate_run(cfg, datamodule_class("lm")), tmp / "lm")
    run(["eval", "--ckpt", tmp / "lm" / "checkpoints" / "last.ckpt", "--corpus", tmp / "corpus", "--ks", 1, 2,
         "--config", "synthetic", "--set", "k=2", "max_new_tokens=6",
         "hidden_module=blocks.blocks.0", "--out", tmp / "decoded"])
    table = read(tmp / "decoded" / "k_table.json")
    assert set(table["majority"]) == {"1", "2"} and table["majority"]["2"]["n"] == 3
    assert "gibbs[nll|inverse_power(p=2.0)]" in table


def check_time_split(tmp, run):
    run(["--shapes", "sudoku", "--modes", "neumann", "--steps", 1, "--warmup", 0, "--f-repeats", 1,
         "--json", tmp / "t.json"])
    f = read(tmp / "t.json")["sudoku/neumann"]
    assert f["solve_evaluations"] >= 1 and f["overhead_ratio"] > 0 and f["vjp_calls_backward"] >= 1


def check_tiny_hf(tmp, run):
    transformers = pytest.importorskip("transformers")
    run([tmp / "tiny"])
    model = transformers.AutoModelForCausalLM.from_pretrained(tmp / "tiny", local_files_only=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp / "tiny", local_files_only=True)
    assert model.config.vocab_size == len(tokenizer) and tokenizer.decode(tokenizer("Q: 2+3").input_ids) == "Q: 2+3"


def check_trust_matrix(tmp, run):
    run(["--presets", "sudoku_smoke", "--precisions", "32-true", "--compiled", 0, "--ranks", 1,
         "--json", tmp / "t.json"])
    (row,) = read(tmp / "t.json")["rows"]
    assert "error" not in row, row
    assert row["loss_fell"] and row["roundtrip_equal"] and row["resume_equal"] and row["resumed_steps"] == 8


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


CHECKS = {name.removeprefix("check_"): fn for name, fn in globals().items() if name.startswith("check_")}


def test_every_script_has_a_real_run():
    assert set(SCRIPTS) == set(CHECKS) | set(COVERED_ELSEWHERE)


@pytest.mark.slow  # one interpreter, every script's imports
def test_every_benchmark_script_runs_as_a_file_from_anywhere(tmp_path):
    """Each script's own sys.path idiom makes this checkout's package importable: the driver drops
    the package (and the repository root) before each script, so nothing carries over."""
    driver = f"""
import runpy, sys
root, scripts = {str(ROOT)!r}, {SCRIPTS!r}
failed, path = {{}}, [p for p in sys.path if p not in ("", root)]
for name in scripts:
    for mod in [m for m in sys.modules if m.split(".")[0] in ("attractor", "benchmarks")]:
        del sys.modules[mod]
    sys.path[:] = [f"{{root}}/benchmarks", *path]
    sys.argv = [f"{{root}}/benchmarks/{{name}}.py", "--help"]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as done:
        if done.code not in (None, 0):
            failed[name] = f"exit {{done.code}}"
    except Exception as err:
        failed[name] = repr(err)
    package = sys.modules.get("attractor")
    if package is not None and not package.__file__.startswith(root):
        failed[name] = f"imported {{package.__file__}}, not this checkout's package"
print("FAILED", failed)
"""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PYTHONPATH": ""}
    proc = subprocess.run([sys.executable, "-c", driver], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0 and "FAILED {}" in proc.stdout, (proc.stdout[-3000:], proc.stderr[-3000:])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_benchmark_script_runs_its_smallest_configuration(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    CHECKS[name](tmp_path, lambda args: run_script(name, args, monkeypatch, capsys))
