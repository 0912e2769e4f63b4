"""The causal transformer exports as a transformers LlamaForCausalLM whose logits equal ours (1e-5),
loaded offline from the folder; models a Llama cannot express are refused naming the key."""
import json

import pytest
import torch

from attractor.config import ConfigError
from attractor.data.text.tokenizer import CharTokenizer
from attractor.evaluation.checkpoint import load_checkpoint
from attractor.evaluation.lm import sample
from attractor.hub import export_checkpoint
from attractor.llama import export_llama, rotate_half_order, to_llama
from attractor.models import build_model
from tests.checkpoints import lm_overrides, perturb, run_config, save_checkpoint

transformers = pytest.importorskip("transformers")
LM = {"name": "transformer", "vocab_size": 19, "max_len": 24, "dim": 32, "n_heads": 4, "n_layers": 2, "causal": True}


def load_offline(folder):
    return transformers.AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()


@pytest.mark.parametrize("tie", [True, False])
def test_llama_logits_equal_ours(tmp_path, tie):
    model = perturb(build_model({**LM, "tie_embeddings": tie}), scale=0.2)
    export_llama(model, tmp_path)
    llama = load_offline(tmp_path)
    assert type(llama).__name__ == "LlamaForCausalLM" and llama.config.tie_word_embeddings == tie
    assert llama.config.rope_parameters["rope_theta"] == 10000.0 and llama.config.rms_norm_eps == 1e-6
    x = torch.randint(0, LM["vocab_size"], (3, LM["max_len"]), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours, theirs = model(x).logits, llama(x).logits
    assert ours.abs().max() > 1  # not a trivially small comparison
    torch.testing.assert_close(theirs, ours, rtol=0, atol=1e-5)
    assert not list(tmp_path.parent.glob(f".{tmp_path.name}.*.tmp"))


def test_rotary_permutation_sends_pairs_to_halves():
    assert rotate_half_order(2, 6).tolist() == [0, 2, 4, 1, 3, 5, 6, 8, 10, 7, 9, 11]


@pytest.mark.parametrize("change, key", [({"name": "attractor"}, "model.name"), ({"name": "looped"}, "model.name"),
                                          ({"causal": False}, "model.causal"), ({"positions": "learned"}, "model.positions")])
def test_models_a_llama_cannot_express_are_refused(tmp_path, change, key):
    base = {k: v for k, v in LM.items() if k != "n_layers" or "name" not in change}
    model = build_model({**base, **change})
    with pytest.raises(ConfigError) as err:
        to_llama(model)
    assert err.value.key == key
    assert not any(tmp_path.iterdir())


def test_a_language_model_checkpoint_exports_with_its_tokenizer(tmp_path):
    """The bridge outside tools use: transformers' tokenizer and greedy generate give our tokens."""
    run = run_config(lm_overrides(tmp_path))
    save_checkpoint(run, tmp_path / "last.ckpt")
    out = tmp_path / "llama"
    export_checkpoint(tmp_path / "last.ckpt", out, format="llama")
    assert json.loads((out / "config.json").read_text())["attractor_export"]["weights"] == "raw"
    ours = load_checkpoint(tmp_path / "last.ckpt").model
    tokenizer = transformers.AutoTokenizer.from_pretrained(out, local_files_only=True)
    from attractor.data.text.tokenizer import load_tokenizer
    from attractor.tasks.harness import build_datamodule

    char = load_tokenizer(build_datamodule(run).data_dir)
    assert isinstance(char, CharTokenizer)
    prompt = "line 01"
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    assert ids[0].tolist() == char.encode(prompt).tolist()
    generated = load_offline(out).generate(ids, do_sample=False, max_new_tokens=8, pad_token_id=0)
    assert tokenizer.decode(generated[0, ids.shape[1]:]) == sample(ours, char, prompt, max_new_tokens=8, temperature=0).text


def test_other_models_are_refused_before_anything_is_written(tmp_path):
    run = run_config(["model=attractor", "debug=tiny"])
    save_checkpoint(run, tmp_path / "last.ckpt")
    with pytest.raises(ConfigError, match="model.name: a 'attractor' model cannot be exported as a Llama"):
        export_checkpoint(tmp_path / "last.ckpt", tmp_path / "llama", format="llama")
    assert not (tmp_path / "llama").exists()
