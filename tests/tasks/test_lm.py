import json
import math
import random

import pytest
import torch

from attractor.evaluation.lm import evaluate_lm_checkpoint, load_lm, sample
from attractor.tasks.config import validate_run
from attractor.tasks.harness import build_datamodule, datamodule_class, train
from attractor.tasks.lm import LMDataModule
from tests.conftest import compose_run

MODES = {"attractor": ["none", "iters=1", "iters=2", "iters=4", "iters=8", "iters=16", "iters=32", "solver"],
         "looped": ["iters=1", "iters=2", "iters=4", "iters=8", "iters=16", "iters=32", "solver"],
         "transformer": ["solver"]}
VAL_MODES = {"attractor": "[none,'iters=2']", "looped": "[]", "transformer": "['iters=1']"}  # train.val_modes


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Two OpenMP threads on two shared cores spin at barriers and run many times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A small, learnable text: sentences from a tiny grammar (so loss falls within a few steps)."""
    rng = random.Random(0)
    words = ["the cat", "a dog", "my bird", "sees", "eats", "likes", "fish", "seeds", "bread", "now", "today"]
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 6))) + "." for _ in range(1000)]
    text = "\n".join(lines) + "\n"
    root = tmp_path_factory.mktemp("lm")
    (root / "corpus.txt").write_text(text)
    return {"path": root / "corpus.txt", "vocab": len(set(text)), "prepare_dir": root / "prepared"}


def _run(corpus, overrides):
    cfg = compose_run(["experiment=lm_smoke", "logger=none", "model.dim=32", "model.n_heads=2", "task.seq_len=32",
                       "task.batch_size=8", "task.eval_batch_size=32", f"task.data.inputs=[{corpus['path']}]",
                       f"task.vocab_size={corpus['vocab']}", f"task.data.prepare_dir={corpus['prepare_dir']}",
                       *overrides])
    return validate_run(cfg, datamodule_class("lm"))


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    """One short run per model, shared by the tests that need a trained checkpoint."""
    results = {}
    for model in MODES:
        run = _run(corpus, [f"model={model}", "train.max_steps=40", "train.val_every_steps=40",
                            "train.val_max_items=0", "optim.lr=1e-2", f"train.val_modes={VAL_MODES[model]}"])
        results[model] = train(run, tmp_path_factory.mktemp(model))
    return results


@pytest.mark.parametrize("model", list(MODES))
def test_a_few_steps_reduce_the_loss(trained, corpus, model):
    final = trained[model].metrics["final"]
    # At init the logits are near zero: loss ln(vocab). 40 steps must learn the characters and words.
    assert final["val/loss"] < math.log(corpus["vocab"]) - 1.0
    assert final["val/ppl"] == pytest.approx(math.exp(final["val/loss"]), rel=1e-5)
    assert final["val/score"] == pytest.approx(-final["val/loss"])
    assert 0 < final["val/bpb"] < final["val/loss"] / math.log(2) * 1.01
    assert final["perf/tokens_per_s"] > 0


@pytest.mark.parametrize("model", list(MODES))
def test_eval_json_schema_in_every_mode(trained, tmp_path, model):
    report = evaluate_lm_checkpoint(trained[model].last_checkpoint, tmp_path, batch_size=7)
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert saved == json.loads(json.dumps(report))
    assert [row["mode"] for row in saved["sweep"]] == MODES[model]
    assert saved["split"] == "test"  # the held-out split by default; training validated on val
    dm_windows = (saved["tokens_in_split"] - 1) // saved["seq_len"]
    assert saved["full_split"] and saved["n_windows"] == dm_windows and saved["n_tokens"] == dm_windows * 32
    for row in saved["sweep"]:
        assert {"loss", "ppl", "bpb", "mean_iterations", "n_tokens", "tokens_per_s"} <= set(row)
        assert row["ppl"] == pytest.approx(math.exp(row["loss"]))
    if model != "transformer":
        fixed = {row["mode"]: row["mean_iterations"] for row in saved["sweep"]}
        assert fixed["iters=4"] == 4 and fixed.get("none", 0) == 0
    assert (tmp_path / saved["plot"]).stat().st_size > 0


@pytest.mark.parametrize("model", ["transformer", "attractor"])
def test_training_validation_matches_the_evaluator(trained, tmp_path, model):
    """Training validates on val (the evaluator scores test unless asked for val), in its default mode
    and in each of ``train.val_modes`` (the attractor without its solver, the transformer's early exit)."""
    modes = ["none", "iters=2"] if model == "attractor" else ["iters=1"]
    report = evaluate_lm_checkpoint(trained[model].last_checkpoint, tmp_path, split="val", modes=["solver", *modes])
    final = trained[model].metrics["final"]
    assert report["split"] == "val"
    loss = {row["mode"]: row["loss"] for row in report["sweep"]}
    assert loss["solver"] == pytest.approx(final["val/loss"], rel=1e-4)
    for mode in modes:
        assert loss[mode] == pytest.approx(final[f"val/{mode}/loss"], rel=1e-4)
    assert abs(loss[modes[0]] - loss["solver"]) > 1e-2  # a mode of its own, not the default's figure again


def test_sampling_gives_the_requested_tokens_reproducibly(trained):
    _, model, tokenizer = load_lm(trained["attractor"].last_checkpoint)
    a, b, c = (sample(model, tokenizer, "the cat", max_new_tokens=40, temperature=1.0, top_k=10, top_p=0.9, seed=s)
               for s in (1, 1, 2))
    assert len(a.token_ids) == 40 and tokenizer.decode(a.token_ids) == a.text
    assert a.token_ids == b.token_ids and a.token_ids != c.token_ids
    greedy = sample(model, tokenizer, "the cat", max_new_tokens=40, temperature=0, seed=3)
    assert greedy.token_ids == sample(model, tokenizer, "the cat", max_new_tokens=40, temperature=0, seed=4).token_ids


@pytest.mark.parametrize("mode", ["none", "iters=3"])
def test_next_token_logits_do_not_depend_on_the_future(trained, mode):
    # The sampling path scores the last position of a prefix; training scores every position of a
    # window at once. Equal logits mean no position sees a later token, solve included.
    _, model, _ = load_lm(trained["attractor"].last_checkpoint)
    tokens = torch.randint(0, model.cfg.vocab_size, (2, 24))
    with torch.no_grad():
        full = model(tokens, mode=mode).logits
        for t in (0, 7, 23):
            assert torch.allclose(model(tokens[:, : t + 1], mode=mode).logits[:, -1], full[:, t], atol=1e-4)


def test_resume_continues_with_same_windows_and_loss(corpus, tmp_path):
    common = ["train.max_steps=6", "train.checkpoint_every_steps=3", "train.val_every_steps=100",
              "trainer.deterministic=true"]
    straight = train(_run(corpus, common), tmp_path / "straight")
    first = train(_run(corpus, ["train.max_steps=3", *common[1:]]), tmp_path / "resumed")
    assert first.metrics["steps"] == 3
    resumed = train(_run(corpus, common + ["ckpt_path=last"]), tmp_path / "resumed")
    assert resumed.metrics["steps"] == 6
    assert resumed.metrics["final"]["train/loss"] == pytest.approx(straight.metrics["final"]["train/loss"], rel=1e-5)
    a = torch.load(straight.last_checkpoint, weights_only=True)["state_dict"]
    b = torch.load(resumed.last_checkpoint, weights_only=True)["state_dict"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_test_fraction_reaches_the_prepared_corpus_and_its_folder(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr("attractor.tasks.lm.PREPARE_ROOT", tmp_path)
    dms = {f: LMDataModule(batch_size=8, seq_len=32, inputs=[str(corpus["path"])], test_fraction=f) for f in (0.1, 0.2)}
    assert dms[0.1].data_dir != dms[0.2].data_dir  # the settings hash names the folder
    for f, dm in dms.items():
        assert dm.data_dir.parent == tmp_path and dm.meta["settings"]["test_fraction"] == f
    assert dms[0.2].meta["bytes"]["test"] > dms[0.1].meta["bytes"]["test"]
    assert dms[0.2].meta["bytes"]["val"] == dms[0.1].meta["bytes"]["val"]  # val is drawn before test


def test_vocab_mismatch_is_a_clear_error(corpus):
    with pytest.raises(ValueError, match="task.vocab_size"):
        build_datamodule(_run(corpus, ["task.vocab_size=65"]))
