"""The lm-evaluation-harness model: its scores equal our own computations in every inference mode."""
import os

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # the tasks read local JSONL; nothing may reach a hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from attractor.data.text.shards import open_shard, read_meta  # noqa: E402
from attractor.evaluation.lm import evaluate_lm_checkpoint, load_lm, sample  # noqa: E402
from attractor.evaluation.lm_harness import AttractorLM  # noqa: E402
from attractor.evaluation.lm_harness_run import run_harness  # noqa: E402
from attractor.hub import export_checkpoint  # noqa: E402
from tests.checkpoints import run_config, save_checkpoint  # noqa: E402
from tests.conftest import run_command  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TASKS = ROOT / "tests" / "evaluation" / "lm_eval_tasks"
SEQ = 32
MODES = {"transformer": ["solver"], "looped": ["solver", "iters=2", "none"], "attractor": ["solver", "iters=2", "none"]}
CASES = [(model, mode) for model, modes in MODES.items() for mode in modes]


@pytest.fixture(autouse=True)
def at_the_root(monkeypatch):
    """The tiny tasks name their JSONL relative to the repository root."""
    monkeypatch.chdir(ROOT)


def jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (TASKS / f"{name}.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Text over the tiny tasks' characters, so a char tokenizer trained on it encodes them."""
    texts = [row["text"] for name in ("tiny_last_word", "tiny_rolling") for row in jsonl(name)]
    texts += [row["context"] + "\n".join(row["choices"]) for row in jsonl("tiny_choice")]
    path = tmp_path_factory.mktemp("lm_harness") / "corpus.txt"
    path.write_text(("\n".join(texts) + "\n") * 12)
    return path


def overrides(corpus: Path, model: str, tokenizer: str = "char") -> list[str]:
    vocab = ["task.data.tokenizer=bpe", "task.data.vocab_size=270", "task.vocab_size=270"] if tokenizer == "bpe" \
        else [f"task.vocab_size={len(set(corpus.read_text()))}"]
    return ["experiment=lm_smoke", f"model={model}", "model.dim=16", "model.n_heads=2", f"task.seq_len={SEQ}",
            f"task.data.inputs=[{corpus}]", f"task.data.prepare_dir={corpus.parent / f'prepared-{tokenizer}'}",
            "solver.tol=1e-6", "solver.max_iter=30", *vocab]


@pytest.fixture(scope="module")
def checkpoints(corpus) -> dict[str, Path]:
    """An untrained (perturbed) checkpoint of each causal model, saved as train.py saves them."""
    paths = {}
    for model in MODES:
        paths[model] = corpus.parent / f"{model}.ckpt"
        save_checkpoint(run_config(overrides(corpus, model)), paths[model])
    return paths


def requests(*args) -> list[SimpleNamespace]:
    return [SimpleNamespace(args=a) for a in args]


@pytest.mark.parametrize("model, mode", CASES)
def test_rolling_loglikelihood_is_eval_py_perplexity(checkpoints, tmp_path, model, mode):
    """The test split as one text after a one-token prefix: the harness's windows are eval.py's."""
    ckpt = checkpoints[model]
    (row,) = evaluate_lm_checkpoint(ckpt, tmp_path, modes=[mode], batch_size=4, device="cpu")["sweep"]
    data_dir = Path(json.loads((tmp_path / "eval.json").read_text())["data_dir"])
    ids = open_shard(data_dir, "test", read_meta(data_dir))[:row["n_tokens"] + 1].tolist()
    tok = load_lm(ckpt)[2]
    lm = AttractorLM(str(ckpt), mode=mode, batch_size=4, device="cpu", prefix=tok.decode(ids[:1]))
    (logprob,) = lm.loglikelihood_rolling(requests((tok.decode(ids[1:]),)))
    assert row["n_windows"] > 4  # several batches
    assert math.exp(-logprob / row["n_tokens"]) == pytest.approx(row["ppl"], rel=1e-5)


def continuation_logprobs(model, tok, mode: str, context: str, continuation: str) -> torch.Tensor:
    """Log-probabilities of the continuation's tokens from one forward of context + continuation."""
    ctx, ids = tok.encode(context).tolist(), tok.encode(context + continuation).tolist()
    logp = torch.log_softmax(model(torch.tensor([ids]), mode=mode).logits[0].double(), -1)
    return logp[torch.arange(len(ctx) - 1, len(ids) - 1), torch.tensor(ids[len(ctx):])]


@pytest.mark.parametrize("model, mode", [("transformer", "solver"), ("looped", "iters=2"), ("attractor", "none"),
                                         ("attractor", "solver")])
def test_task_metrics_equal_direct_computations(checkpoints, tmp_path, model, mode):
    """Multiple-choice accuracy, last-word accuracy and perplexity, and rolling bits per byte, from
    the harness's run, against our model's log-probabilities (every input fits the context)."""
    report = run_harness(checkpoints[model], ["tiny_choice", "tiny_last_word", "tiny_rolling"], tmp_path,
                         modes=[mode], task_paths=[TASKS], batch_size=3, device="cpu")
    results = json.loads((tmp_path / "lm_eval.json").read_text())["runs"][mode]["results"]
    assert results == report["runs"][mode]["results"]
    _, net, tok = load_lm(checkpoints[model])
    with torch.no_grad():
        right = right_norm = 0
        for doc in jsonl("tiny_choice"):
            scores = [continuation_logprobs(net, tok, mode, doc["context"], c).sum() for c in doc["choices"]]
            right += int(torch.stack(scores).argmax()) == doc["label"]
            # acc_norm: the harness moves the context's trailing newline into each continuation and
            # divides by the choice's length in characters
            per_char = [continuation_logprobs(net, tok, mode, doc["context"][:-1], "\n" + c).sum() / len(c)
                        for c in doc["choices"]]
            right_norm += int(torch.stack(per_char).argmax()) == doc["label"]
        docs = jsonl("tiny_choice")
        assert results["tiny_choice"]["acc,none"] == pytest.approx(right / len(docs), abs=1e-12)
        assert results["tiny_choice"]["acc_norm,none"] == pytest.approx(right_norm / len(docs), abs=1e-12)
        greedy, nll = 0, 0.0
        for doc in jsonl("tiny_last_word"):
            context, word = doc["text"].rsplit(" ", 1)
            logp = continuation_logprobs(net, tok, mode, context, " " + word)
            nll -= logp.sum().item()
            ids = tok.encode(doc["text"]).tolist()
            argmax = net(torch.tensor([ids]), mode=mode).logits[0].argmax(-1)[len(ids) - len(word) - 2:-1]
            greedy += argmax.tolist() == ids[len(ids) - len(word) - 1:]
        n = len(jsonl("tiny_last_word"))
        assert results["tiny_last_word"]["acc,none"] == pytest.approx(greedy / n, abs=1e-12)
        assert results["tiny_last_word"]["perplexity,none"] == pytest.approx(math.exp(nll / n), rel=1e-5)
    texts = [doc["text"] for doc in jsonl("tiny_rolling")]
    lm = AttractorLM(str(checkpoints[model]), mode=mode, batch_size=3, device="cpu")
    total = sum(lm.loglikelihood_rolling(requests(*[(t,) for t in texts])))
    expected = -total / sum(len(t.encode()) for t in texts) / math.log(2)
    assert results["tiny_rolling"]["bits_per_byte,none"] == pytest.approx(expected, rel=1e-5)
    assert {r["metric"] for r in report["table"]} == {"acc", "acc_norm", "perplexity", "word_perplexity",
                                                      "byte_perplexity", "bits_per_byte"}  # no counts
    accuracies = {r["task"]: r for r in report["table"] if r["metric"] == "acc"}
    assert {task: r["n"] for task, r in accuracies.items()} == {"tiny_choice": len(docs), "tiny_last_word": n}
    assert all(lo <= r["value"] <= hi for r in accuracies.values() for lo, hi in [r["ci95"]])


def test_the_harness_lambada_task_reads_a_local_copy(checkpoints, tmp_path):
    """docs/lm.md's recipe: the harness's own lambada_openai.yaml on local JSONL scores as our last_word task."""
    import lm_eval

    harness_yaml = Path(lm_eval.__file__).parent / "tasks" / "lambada" / "lambada_openai.yaml"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "lambada_local.yaml").write_text(
        f"include: {harness_yaml}\ntask: lambada_openai_local\ndataset_path: json\ndataset_name: null\n"
        f"dataset_kwargs:\n  data_files:\n    test: {TASKS / 'tiny_last_word.jsonl'}\n")
    report = run_harness(checkpoints["looped"], ["lambada_openai_local", "tiny_last_word"], tmp_path, modes=["iters=2"],
                         task_paths=[tmp_path / "mine", TASKS], device="cpu")
    results = report["runs"]["iters=2"]["results"]
    for metric in ("acc,none", "perplexity,none"):
        assert results["lambada_openai_local"][metric] == results["tiny_last_word"][metric]


def test_rolling_windows_score_every_token_once(checkpoints):
    """A text longer than the context: the sum over the harness's windows equals the sum over a
    forward of each window we cut by hand (first window after the prefix, then full contexts)."""
    lm = AttractorLM(str(checkpoints["attractor"]), mode="none", device="cpu")
    text = jsonl("tiny_rolling")[2]["text"]
    ids = lm.tok_encode("\n" + text)
    assert len(ids) > 2 * SEQ
    expected, start = 0.0, 1
    while start < len(ids):
        end = min(start + SEQ, len(ids))
        inputs = ids[max(0, end - 1 - SEQ):end - 1]  # the context of ids[start:end], as long as the model takes
        logp = torch.log_softmax(lm.model(torch.tensor([inputs]), mode="none").logits[0].double(), -1)
        targets = ids[start:end]
        expected += logp[torch.arange(len(inputs) - len(targets), len(inputs)), torch.tensor(targets)].sum().item()
        start = end
    (got,) = lm.loglikelihood_rolling(requests((text,)))
    assert got == pytest.approx(expected, rel=1e-6)


def test_long_contexts_keep_their_last_tokens(checkpoints):
    lm = AttractorLM(str(checkpoints["transformer"]), device="cpu", batch_size=2)
    context = jsonl("tiny_rolling")[2]["text"]
    tail = lm.tok_decode(lm.tok_encode(context)[-(SEQ - 3):])  # + the 4 tokens of " mat" = SEQ + 1
    (long, short) = lm.loglikelihood(requests((context, " mat"), (tail, " mat")))
    assert long == pytest.approx(short, abs=1e-6)


@pytest.mark.parametrize("model, mode", CASES)
def test_greedy_generate_until_is_action_sample(checkpoints, model, mode):
    run, net, tok = load_lm(checkpoints[model])
    lm = AttractorLM(str(checkpoints[model]), mode=mode, batch_size=2, device="cpu")
    prompts = ["the cat", "a dog ran", "the sun", jsonl("tiny_rolling")[2]["text"]]  # two of one length; one > SEQ
    greedy = {"until": [], "max_gen_toks": 12, "do_sample": False}
    got = lm.generate_until(requests(*[(p, greedy) for p in prompts]))
    assert got == [sample(net, tok, p, 12, temperature=0.0, mode=mode).text for p in prompts]
    stopped = lm.generate_until(requests(*[(p, {**greedy, "until": ["e"]}) for p in prompts]))
    assert stopped == [text.split("e")[0] for text in got]


def load_eval_py():
    import importlib.util

    spec = importlib.util.spec_from_file_location("eval_cli", ROOT / "eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_eval_py_action_lm_eval_writes_every_mode_asked(checkpoints, tmp_path, monkeypatch, capsys):
    code = run_command("eval.py", ["action=lm_eval", f"ckpt={checkpoints['attractor']}", "tasks=[tiny_last_word]",
                                   f"task_paths=[{TASKS}]", "modes=[none,'iters=2']", f"out_dir={tmp_path}",
                                   "device=cpu"], monkeypatch)
    out = capsys.readouterr()
    assert code == 0, out.err[-2000:]
    saved = json.loads((tmp_path / "lm_eval.json").read_text())
    assert saved["modes"] == ["none", "iters=2"] and set(saved["runs"]) == {"none", "iters=2"}
    assert "| none |" in out.out and "tiny_last_word acc" in out.out


def test_action_sample_prints_generate_untils_greedy_text(checkpoints, capsys):
    sampling = {"prompt": "the cat", "max_new_tokens": 10, "temperature": 0.0, "top_k": 0, "top_p": 1.0, "seed": 0,
                "mode": "iters=2"}
    load_eval_py().sample_lm(checkpoints["attractor"], sampling, None, "cpu", None)
    printed = capsys.readouterr().out.rsplit("\n[", 1)[0]
    lm = AttractorLM(str(checkpoints["attractor"]), mode="iters=2", device="cpu")
    (text,) = lm.generate_until(requests(("the cat", {"until": [], "max_gen_toks": 10})))
    assert printed == "the cat" + text


def test_model_args_keep_mode_none_a_mode(checkpoints):
    """The harness's parser turns `none` into None (the default mode): ours keeps the string."""
    lm = AttractorLM.create_from_arg_string(f"pretrained={checkpoints['attractor']},mode=none",
                                            {"batch_size": "8", "device": "cpu", "max_batch_size": None})
    assert (lm.mode, lm.batch_size) == ("none", 8)
    with pytest.raises(ValueError, match="model_args: 'mode' is not key=value"):
        AttractorLM.create_from_arg_string(f"pretrained={checkpoints['attractor']},mode")


def test_an_export_folder_scores_as_its_checkpoint(checkpoints, tmp_path):
    export_checkpoint(checkpoints["looped"], tmp_path / "export")
    pairs = requests(("the cat sat on", " the mat"), ("", "a dog"))
    from_ckpt = AttractorLM(str(checkpoints["looped"]), mode="iters=3", device="cpu").loglikelihood(pairs)
    from_export = AttractorLM(str(tmp_path / "export"), mode="iters=3", device="cpu").loglikelihood(pairs)
    assert from_export == from_ckpt


def test_a_bpe_checkpoint_scores_its_own_tokens(corpus, tmp_path):
    path = tmp_path / "bpe.ckpt"
    save_checkpoint(run_config(overrides(corpus, "attractor", "bpe")), path)
    lm = AttractorLM(str(path), mode="iters=2", device="cpu")
    assert lm.tok.kind == "bpe"
    ((logprob, _),) = lm.loglikelihood(requests(("the cat sat on", " the mat")))
    with torch.no_grad():
        expected = continuation_logprobs(lm.model, lm.tok, "iters=2", "the cat sat on", " the mat").sum().item()
    assert logprob == pytest.approx(expected, rel=1e-5)


def test_bad_inputs_get_clear_errors(checkpoints, corpus, tmp_path):
    puzzle = tmp_path / "sudoku.ckpt"
    save_checkpoint(run_config(["experiment=sudoku_smoke", "model.dim=16", "model.n_heads=2", "task.data.n_train=16",
                                "task.data.n_val=4", "task.data.n_test=8"]), puzzle)
    with pytest.raises(ValueError, match="'sudoku' checkpoint, not a language model"):
        AttractorLM(str(puzzle))
    with pytest.raises(ValueError, match=r"mode: inference mode 'fast' is not one of"):
        AttractorLM(str(checkpoints["attractor"]), mode="fast")
    with pytest.raises(ValueError, match="mode: 'none': a transformer has no solver or loops"):
        AttractorLM(str(checkpoints["transformer"]), mode="none")
    with pytest.raises(FileNotFoundError, match="no tokenizer file"):
        AttractorLM(str(checkpoints["looped"]), tokenizer=str(tmp_path / "missing.json"))
    export_checkpoint(checkpoints["looped"], tmp_path / "export")
    (tmp_path / "export" / "tokenizer.json").unlink()
    with pytest.raises(ValueError, match="no tokenizer.json"):
        AttractorLM(str(tmp_path / "export"))
    moved = tmp_path / "moved"  # a run whose corpus (and its prepared folder with the tokenizer) is gone
    shutil.copy(corpus, tmp_path / "gone.txt")
    save_checkpoint(run_config(overrides(tmp_path / "gone.txt", "looped")), moved)
    (tmp_path / "gone.txt").unlink()
    with pytest.raises(ValueError, match="its tokenizer is in the run's prepared corpus, which is not here"):
        AttractorLM(str(moved))
    with pytest.raises(ValueError, match="prefix: 'the' is 3 tokens"):
        AttractorLM(str(checkpoints["looped"]), prefix="the")


def test_eval_py_refuses_what_lm_eval_would_ignore(checkpoints, tmp_path, monkeypatch, capsys):
    eval_cli = load_eval_py()
    args = {"external": [], "test_data": None, "segments": None, "split": "test", "mode": "none", "out_dir": None}
    with pytest.raises(ValueError, match=r"mode: chooses action=sample's mode; action=lm_eval scores every mode"):
        eval_cli.lm_eval(checkpoints["attractor"], args)
    with pytest.raises(ValueError, match="tasks: name at least one harness task"):
        run_harness(checkpoints["attractor"], [], tmp_path)
    code = run_command("eval.py", [f"ckpt={checkpoints['attractor']}", "tasks=[tiny_choice]"], monkeypatch)
    out = capsys.readouterr()
    assert code != 0 and "tasks: names lm-evaluation-harness tasks" in out.err + out.out
