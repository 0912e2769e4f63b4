"""The issue-15 study: paired statistics, the dev-only choices (model strength, temperature, Gibbs
variant), disjoint splits, and the whole command at toy size (training with snapshots, the pick,
decoding, HF export and agreement, report)."""
import json

import pytest

from attractor.decoding.arithmetic import ArithmeticConfig
from attractor.particles.selection import select_all
from benchmarks.gibbs.study import choose_on_dev, mcnemar, paired_bootstrap, pick_snapshot, score_test
from benchmarks.gibbs.corpus import CorpusSpec, read_heldout, write_corpus
from attractor.particles.weights import WeightSpec

WEIGHTS = [WeightSpec("inverse_power", {"p": 2.0}), WeightSpec("boltzmann", {"beta": 10.0}), WeightSpec("uniform")]


def test_mcnemar_hand_worked_table():
    # 2x2 table: both right 5, only a 8, only b 1, both wrong 6 -> p = 2 * P(X <= 1 | 9, 1/2) = 20/512
    a = [True] * 5 + [True] * 8 + [False] * 1 + [False] * 6
    b = [True] * 5 + [False] * 8 + [True] * 1 + [False] * 6
    rows = [{"a": x, "b": y} for x, y in zip(a, b)]
    assert mcnemar(rows, "a", "b") == {"wins": 8, "losses": 1, "p": pytest.approx(20 / 512)}
    assert mcnemar(rows, "b", "a") == {"wins": 1, "losses": 8, "p": pytest.approx(20 / 512)}
    assert mcnemar(rows, "a", "a") == {"wins": 0, "losses": 0, "p": 1.0}


def test_deepconf_vote_weights_answers_by_confidence():
    picks = select_all(["1", "1", "2", None], {}, [], confidences=[1.0, 1.5, 3.0, 9.0])
    assert picks["majority"] == "1" and picks["deepconf"] == "2"  # 3.0 > 2.5; no answer, no vote
    assert "deepconf" not in select_all(["1"], {}, [])


def test_paired_bootstrap_intervals():
    rows = [{"all": True, "half": i % 2 == 0} for i in range(400)]
    ci = paired_bootstrap(rows, ["all", "half"], n_resamples=4000, seed=3)
    assert ci["all"] == [1.0, 1.0]
    assert ci["half"][0] == pytest.approx(0.5 - 1.96 * 0.025, abs=0.006)
    assert ci["half"][1] == pytest.approx(0.5 + 1.96 * 0.025, abs=0.006)
    assert paired_bootstrap(rows, ["half"], 500, seed=3) == paired_bootstrap(rows, ["half"], 500, seed=3)


def record(gold, answers, nlls, greedy, confidences=None):
    parts = [{"answer": a, "correct": a == gold, "n_tokens": 5, "energies": {"nll": e}} for a, e in zip(answers, nlls)]
    for p, c in zip(parts, confidences or []):
        p["confidence"] = c
    return {"gold": gold, "particles": parts, "greedy": {"answer": greedy}}


# On dev, a lone low-energy particle is right at T=1.0 (Gibbs finds it); at T=0.5 no particle is.
DEV = {
    0.5: [record("7", ["5", "5", "5", "5"], [1.0, 1.0, 1.0, 1.0], "5")] * 3,
    1.0: [record("7", ["5", "5", "7", "5"], [1.0, 1.0, 0.2, 1.0], "5")] * 3,
}


def test_choice_is_made_on_dev_and_test_never_changes_it():
    choice = choose_on_dev(DEV, [1, 4], WEIGHTS)
    assert choice["temperature"] == 1.0
    assert choice["labels"] == {1: "gibbs[nll|inverse_power(p=2.0)]", 4: "gibbs[nll|inverse_power(p=2.0)]"}
    assert choice["dev_accuracy"][1.0][4]["majority"] == 0.0
    good = [record("3", ["3", "1", "1", "1"], [0.1, 1.0, 1.0, 1.0], "1", [4.0, 1.0, 1.0, 1.0])] * 2
    bad = [record("3", ["3", "1", "1", "1"], [2.0, 0.1, 0.1, 0.1], "3", [1.0, 1.0, 1.0, 1.0])] * 2
    scored = [score_test(test, [1, 2, 4], WEIGHTS, {**choice, "labels": {1: choice["labels"][1], 2: choice["labels"][1], 4: choice["labels"][4]}})
              for test in (good, bad)]
    assert [s["k"]["4"]["gibbs_dev_choice"]["label"] for s in scored] == [choice["labels"][4]] * 2
    assert [s["k"]["4"]["gibbs_dev_choice"]["acc"] for s in scored] == [1.0, 0.0]
    s = scored[0]
    assert s["n_test"] == 2 and s["greedy"] == 0.0 and s["k"]["4"]["majority"] == 0.0 and s["k"]["4"]["pass_at_k"] == 1.0
    assert s["k"]["4"]["deepconf"] == 1.0 and s["k"]["1"]["pass_at_k"] == 1.0
    assert s["k"]["4"]["mcnemar_p_vs_majority"] == pytest.approx(0.5)  # 2 wins, 0 losses
    assert s["k"]["4"]["gibbs_dev_choice"]["vs_greedy"] == {"wins": 2, "losses": 0, "p": pytest.approx(0.5)}


def test_first_label_wins_a_dev_tie():
    choice = choose_on_dev(DEV, [4], WEIGHTS)
    # 1/E^2 and exp(-10 E) both answer 7 on every dev question: the first in method order is kept
    assert choice["dev_accuracy"][1.0][4]["gibbs[nll|inverse_power(p=2.0)]"] == 1.0
    assert choice["labels"][4] == "gibbs[nll|inverse_power(p=2.0)]"


def test_bad_k_and_missing_labels_name_the_key():
    choice = choose_on_dev(DEV, [1, 4], WEIGHTS)
    with pytest.raises(ValueError, match=r"ks: \[8\] exceed the 4 particles"):
        score_test(DEV[1.0], [4, 8], WEIGHTS, choice)
    with pytest.raises(KeyError, match="labels"):
        score_test(DEV[1.0], [2], WEIGHTS, choice)
    with pytest.raises(ValueError, match=r"k must be in \[1, 4\]"):
        choose_on_dev(DEV, [8], WEIGHTS)
    with pytest.raises(ValueError, match="no energy-weighted Gibbs"):
        choose_on_dev(DEV, [4], [WeightSpec("uniform")])


def test_pick_snapshot_nearest_target_inside_the_range():
    accs = {100: 0.10, 200: 0.58, 300: 0.66, 400: 0.93, 500: 0.97}
    # 0.58 lies outside [0.6, 0.9] and so does 0.93: of the in-range ones 0.66 is nearest 0.75
    pick = pick_snapshot(accs, 0.75)
    assert (pick["step"], pick["dev_greedy"], pick["in_range"]) == (300, 0.66, True)
    # 0.93 is nearer 0.86 than 0.66 is, but outside [0.6, 0.9]: the in-range one wins
    assert pick_snapshot(accs, 0.86)["step"] == 300
    assert pick_snapshot({1: 0.61, 2: 0.89, 3: 0.75}, 0.75)["step"] == 3
    assert pick["range"] == [0.6, 0.9] and "nearest 0.75" in pick["rule"]


def test_pick_snapshot_none_in_range_and_ties():
    out = pick_snapshot({100: 0.05, 200: 0.40, 300: 0.95, 400: 0.99}, 0.75)
    assert (out["step"], out["in_range"]) == (300, False)  # |0.95-0.75| = 0.20 < |0.40-0.75| = 0.35
    assert pick_snapshot({100: 0.05, 200: 0.30}, 0.75)["step"] == 200
    # equally far from the target (0.70 and 0.80; 0.55 and 0.95 outside): the earlier step
    assert pick_snapshot({300: 0.80, 100: 0.70}, 0.75)["step"] == 100
    assert pick_snapshot({100: 0.80, 200: 0.70}, 0.75)["step"] == 100
    tie_outside = pick_snapshot({200: 0.95, 100: 0.55}, 0.75)
    assert (tie_outside["step"], tie_outside["in_range"]) == (100, False)
    with pytest.raises(ValueError, match="no snapshots"):
        pick_snapshot({}, 0.75)
    with pytest.raises(ValueError, match="target_greedy"):
        pick_snapshot({1: 0.5}, 0.95)


def test_bad_energy_or_kernel_names_the_key():
    from attractor.decoding.config import DecodeConfig

    with pytest.raises(KeyError, match="energies: unknown energy 'spectral'; valid: hidden_svd_entropy"):
        DecodeConfig(energies=["nll", "spectral"])
    with pytest.raises(KeyError, match="weights: unknown name 'gauss'"):
        DecodeConfig(weights=[{"name": "gauss"}])


def test_train_dev_test_questions_are_disjoint(tmp_path):
    spec = CorpusSpec(n_train=300, n_eval=60, arithmetic=ArithmeticConfig(steps=1, max_value=20), train_seed=1,
                      eval_seed=2, n_dev=40, dev_seed=3)
    meta = write_corpus(tmp_path, spec)
    train = {line[3:] for line in (tmp_path / "train.txt").read_text().splitlines()[::2]}
    dev, test = ({p.question for p in read_heldout(tmp_path, split=s)} for s in ("dev", "test"))
    assert (len(train), len(dev), len(test)) == (300, 40, 60)
    assert not train & dev and not train & test and not dev & test
    assert meta["files"]["dev"] == "dev.jsonl"
    with pytest.raises(KeyError, match="split"):
        read_heldout(tmp_path, split="val")
    with pytest.raises(ValueError, match="must differ"):
        CorpusSpec(n_dev=5, dev_seed=0)


def test_whole_command_at_toy_size(tmp_path, monkeypatch):
    from benchmarks import gibbs_synthetic as g

    monkeypatch.setenv("WANDB_MODE", "disabled")
    out, results = tmp_path / "study", tmp_path / "results" / "gibbs.json"
    for model in g.MODELS:
        g.main(["--preset", "smoke", "--out", str(out), "--model", model])
    g.main(["--preset", "smoke", "--out", str(out), "--stage", "report", "--results", str(results)])
    data = json.loads(results.read_text())
    assert data["n_test"] == 6 and 0 <= data["greedy"] <= 1
    assert set(data["k"]) == {"1", "2", "4"}
    for entry in data["k"].values():
        assert {"majority", "gibbs_dev_choice", "mcnemar_p_vs_majority", "mcnemar_p_vs_greedy", "pass_at_k"} <= set(entry)
        assert entry["gibbs_dev_choice"]["label"].startswith("gibbs[") and 0 <= entry["gibbs_dev_choice"]["acc"] <= 1
    # the exported Llama decoded by HFSampler repeats the native greedy answers and texts
    assert data["hf_native_greedy_agreement"] == 1.0 and data["hf"]["text_agreement"] == 1.0
    attractor = data["attractor"]
    assert {"solver_residual", "solver_iterations"} <= set(attractor["auroc"])
    assert abs(attractor["parameters"] - data["parameters"]) / data["parameters"] < 0.02  # same blocks: only the gate differs
    assert data["dev_choice"]["temperature"] in (0.8, 1.0) and data["temperature"] == data["dev_choice"]["temperature"]
    tables = results.with_name("gibbs_tables.md").read_text()
    assert "### transformer: test, 6 problems" in tables and "### attractor" in tables
    assert (results.parent / "gibbs_transformer_accuracy_vs_k.png").stat().st_size > 0
    with pytest.raises(ValueError, match="stage hf: only the transformer"):
        g.main(["--preset", "smoke", "--out", str(out), "--model", "attractor", "--stage", "hf"])
    # the strength was chosen on dev among the snapshots (one per step in smoke), and every later
    # stage decoded the picked one: dev's greedy pass repeats the pick's greedy accuracy
    pick = data["snapshot_pick"]
    assert [s["step"] for s in pick["snapshots"]] == [1, 2, 3] and pick["step"] in (1, 2, 3)
    assert pick["target"] == 0.75 and pick["range"] == [0.6, 0.9] and isinstance(pick["in_range"], bool)
    assert pick["dev_greedy"] == {s["step"]: s["dev_greedy"] for s in pick["snapshots"]}[pick["step"]]
    assert pick["checkpoint"] == f"transformer/train/checkpoints/snapshots/step{pick['step']:05d}.ckpt"
    for t in (0.8, 1.0):
        dev = json.loads((out / "transformer" / f"dev_T{t:g}" / "summary.json").read_text())
        assert dev["methods"]["greedy"]["accuracy"] == pick["dev_greedy"]
    (out / "transformer" / "pick.json").unlink()
    with pytest.raises(FileNotFoundError, match="no snapshot picked yet; run --stage pick"):
        g.main(["--preset", "smoke", "--out", str(out), "--model", "transformer", "--stage", "test"])
