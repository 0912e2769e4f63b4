import json
from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException

from attractor.compose import group_config
from attractor.config import ConfigError
from attractor.decoding.config import DecodeConfig
from attractor.decoding.datasets import Problem
from attractor.decoding.particle import Particle
from attractor.decoding.plots import plot_run
from attractor.decoding.runner import read_records, run_decoding
from attractor.decoding.samplers import Sampler, SamplingParams
from attractor.stats import wilson_interval

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "decode"


def particle(text, nll):
    n = 4
    return Particle(list(range(n)), text, torch.full((n,), -nll), torch.full((n,), 1.0), torch.eye(n, 3))


class ScriptedSampler(Sampler):
    """Returns fixed clouds: question 'q1' has a wrong majority and a lone low-energy correct particle."""

    clouds = {
        "q1": [particle("#### 5", 2.0), particle("#### 5", 2.0), particle("#### 7", 0.5)],
        "q2": [particle("#### 3", 1.0), particle("#### 3", 1.0), particle("no answer", 0.1)],
    }

    def sample(self, prompts, k, params: SamplingParams):
        if params.temperature == 0:
            return [[particle("#### 7", 1.0)] for _ in prompts]
        return [self.clouds[p][:k] for p in prompts]


def test_runner_writes_schema_and_paired_accuracies(tmp_path):
    cfg = DecodeConfig(
        k=3,
        energies=["nll", "token_entropy", "hidden_svd_entropy"],
        weights=[{"name": "inverse_power", "p": 2.0}, {"name": "uniform"}],
        hidden_module="stand-in",
        extraction="strict",
        questions_per_batch=2,
    )
    problems = [Problem("a", "q1", "7"), Problem("b", "q2", "3")]
    summary = run_decoding(problems, ["q1", "q2"], ScriptedSampler(), cfg, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["particles.jsonl", "summary.json"]
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    records = list(read_records(tmp_path))
    assert [r["id"] for r in records] == ["a", "b"]
    r = records[0]
    assert [p["answer"] for p in r["particles"]] == ["5", "5", "7"]
    assert r["particles"][2]["energies"]["nll"] == pytest.approx(0.5)
    assert sum(r["weights"]["gibbs[nll|inverse_power(p=2.0)]"]) == pytest.approx(1.0)
    assert r["greedy"]["answer"] == "7" and r["correct"]["greedy"] and not r["correct"]["majority"]
    assert records[1]["particles"][2]["answer"] is None

    methods = summary["methods"]
    assert methods["majority"]["correct"] == 1 and methods["gibbs[uniform]"]["correct"] == 1
    assert methods["gibbs[nll|inverse_power(p=2.0)]"]["correct"] == 2
    assert methods["best_of_n[nll]"]["correct"] == 2  # q2's lowest-energy particle has no answer: skipped
    assert methods["greedy"]["correct"] == 1 and methods["pass@k"]["correct"] == 2
    assert methods["majority"]["ci95"] == pytest.approx(list(wilson_interval(1, 2)))
    assert summary["k"] == 3 and summary["n_questions"] == 2
    assert summary["tokens_generated"] == 2 * (3 * 4 + 4)
    assert 0 <= summary["energy_overhead_fraction"] and summary["wall_s"] >= summary["generation_s"]

    numbers = plot_run(records, cfg.weights, tmp_path)
    for name in ("accuracy_vs_k.png", "energy_histograms.png", "energy_auroc.png"):
        assert (tmp_path / name).stat().st_size > 0
    curves = numbers["accuracy_vs_k"]
    assert curves["gibbs[nll|inverse_power(p=2.0)]"][3] == 1.0 and curves["majority"][3] == 0.5
    assert curves["majority"][1] == 0.5  # first particle only: '5' (wrong) and '3' (right)


def test_failed_run_leaves_no_half_written_file(tmp_path):
    class Broken(ScriptedSampler):
        def sample(self, prompts, k, params):
            if prompts[0] == "q2":
                raise RuntimeError("boom")
            return super().sample(prompts, k, params)

    with pytest.raises(RuntimeError):
        run_decoding([Problem("a", "q1", "7"), Problem("b", "q2", "3")], ["q1", "q2"], Broken(), DecodeConfig(k=3), tmp_path)
    assert not (tmp_path / "particles.jsonl").exists() and not (tmp_path / "summary.json").exists()


def test_shipped_configs_load_and_bad_options_are_named(tmp_path):
    for path in sorted(CONFIGS.glob("*.yaml")):
        cfg = group_config(DecodeConfig, "decode", path.stem)
        assert cfg.k >= 1 and cfg.weights
    assert group_config(DecodeConfig, "decode", "default", ["k=3"]).k == 3
    assert group_config(DecodeConfig, "decode", "smoke", k=5).k == 5
    with pytest.raises(ConfigCompositionException, match="decode.beta"):
        group_config(DecodeConfig, "decode", "default", ["beta=2"])
    with pytest.raises(ConfigError, match="decode.beta: unknown key"):
        group_config(DecodeConfig, "decode", "default", beta=2)
    with pytest.raises(KeyError, match="unknown energy 'spectral'"):
        DecodeConfig(energies=["spectral"])
    with pytest.raises(ValueError, match="hidden_module"):
        DecodeConfig(energies=["hidden_svd_entropy"])
    with pytest.raises(ValueError, match="top_p"):
        DecodeConfig(top_p=0.0)


def test_cli_runs_the_tiny_hf_model_end_to_end(tmp_path, capsys):
    pytest.importorskip("transformers")
    from attractor.decoding.__main__ import main
    from attractor.decoding.arithmetic import generate_problems
    from benchmarks.tiny_hf import save_tiny_llama

    model = save_tiny_llama(tmp_path / "model", [f"Q: {p.question}\nA: {p.solution}" for p in generate_problems(500)])
    out = tmp_path / "run"
    main([
        "run", "--config", "smoke", "--dataset", "arithmetic", "--limit", "2",
        "--model-path", str(model), "--out", str(out), "--set", "k=2", "max_new_tokens=4",
    ])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["k"] == 2 and summary["n_questions"] == 2
    assert "gibbs[hidden_svd_entropy|inverse_power(p=2.0)]" in summary["methods"]
    main(["plot", str(out)])
    assert (out / "accuracy_vs_k.png").is_file()
