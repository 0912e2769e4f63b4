import json

import pytest

from attractor.decoding.answers import extract_strict
from attractor.decoding.arithmetic import ArithmeticConfig, generate_problems
from benchmarks.gibbs.corpus import CorpusSpec, read_heldout, train_command, write_corpus

SPEC = CorpusSpec(n_train=300, n_eval=100, arithmetic=ArithmeticConfig(steps=1, max_value=20), train_seed=1, eval_seed=2)


def test_corpus_is_deterministic_and_heldout_is_disjoint(tmp_path):
    meta = write_corpus(tmp_path / "a", SPEC)
    write_corpus(tmp_path / "b", SPEC)
    for name in ("train.txt", "heldout.jsonl", "corpus.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()

    text = (tmp_path / "a" / "train.txt").read_text()
    lines = text.splitlines()
    assert len(lines) == 2 * SPEC.n_train and lines[0].startswith("Q: ") and lines[1].startswith("A: ")
    train_questions = {line[3:] for line in lines[::2]}
    assert len(train_questions) == SPEC.n_train
    heldout = read_heldout(tmp_path / "a")
    # only 672 one-step problems exist at this size: about half the eval seed's first draws are training ones
    assert sum(p.question in train_questions for p in generate_problems(SPEC.n_eval, SPEC.arithmetic, SPEC.eval_seed)) > 30
    assert len(heldout) == SPEC.n_eval and len({p.question for p in heldout}) == SPEC.n_eval
    assert not {p.question for p in heldout} & train_questions
    assert all(extract_strict(p.solution) == p.answer and eval(p.question) == int(p.answer) for p in heldout)
    assert read_heldout(tmp_path / "a", limit=7) == heldout[:7]
    assert meta["vocab_size"] == len(set(text)) == json.loads((tmp_path / "a" / "corpus.json").read_text())["vocab_size"]
    assert f"task.vocab_size={meta['vocab_size']}" in train_command(tmp_path / "a", meta["vocab_size"], "x")


def test_bad_specs_and_missing_corpus(tmp_path):
    with pytest.raises(ValueError, match="must differ"):
        CorpusSpec(train_seed=3, eval_seed=3)
    with pytest.raises(ValueError, match="n_train"):
        CorpusSpec(n_train=0)
    with pytest.raises(FileNotFoundError, match="synthetic_decoding.py corpus"):
        read_heldout(tmp_path)


def record(gold, answers, nlls, greedy):
    particles = [{"answer": a, "correct": a == gold, "energies": {"nll": e}} for a, e in zip(answers, nlls)]
    return {"gold": gold, "particles": particles, "greedy": {"answer": greedy}}


def test_k_table_scores_the_first_k_particles_paired_with_majority():
    from benchmarks.gibbs.evaluate import k_table, markdown_tables
    from attractor.particles.weights import WeightSpec

    records = [  # q1: wrong majority, lone low-energy right particle; q2: the lowest energy has no answer
        record("7", ["5", "5", "7"], [2.0, 2.0, 0.5], "7"),
        record("3", ["3", "3", None], [1.0, 1.0, 0.1], "1"),
    ]
    table = k_table(records, [1, 3], [WeightSpec("inverse_power", {"p": 2.0}), WeightSpec("uniform")])
    gibbs = table["gibbs[nll|inverse_power(p=2.0)]"]
    assert [gibbs[k]["correct"] for k in (1, 3)] == [1, 2]
    assert [table["majority"][k]["correct"] for k in (1, 3)] == [1, 1]
    assert table["best_of_n[nll]"][3]["correct"] == 2 and table["pass@k"][3]["correct"] == 2
    assert table["greedy"][1]["correct"] == table["greedy"][3]["correct"] == 1
    assert gibbs[3]["vs_majority"] == {"wins": 1, "losses": 0, "p": 1.0}
    assert table["gibbs[uniform]"][3]["vs_majority"] == {"wins": 0, "losses": 0, "p": 1.0}
    text = markdown_tables(table)
    assert "| majority | 50.0 [" in text and "| gibbs[nll\\|inverse_power(p=2.0)] | +0.0 (0/0, p=1) | +50.0 (1/0, p=1) |" in text
