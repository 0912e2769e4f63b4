"""The Hugging Face path end to end with a tiny random Llama and a locally trained tokenizer."""
import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from attractor.decoding.arithmetic import generate_problems  # noqa: E402
from attractor.decoding.samplers import HFSampler, SamplingParams  # noqa: E402
from benchmarks.tiny_hf import save_tiny_llama  # noqa: E402

PROMPTS = ["Q: 12+7\nA:", "Q: 3+45-9\nA: 3+45=48."]  # different lengths -> left padding


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    corpus = [f"Q: {p.question}\nA: {p.solution}" for p in generate_problems(300)]
    return save_tiny_llama(tmp_path_factory.mktemp("tiny"), corpus)


def _reference(sampler, prompt, particle, layer):
    """Raw logits and one layer's hidden states from a plain, unpadded forward over prompt + particle."""
    ids = sampler.tokenizer(prompt, return_tensors="pt")["input_ids"]
    full = torch.cat([ids, torch.tensor([particle.token_ids])], dim=1)
    out = sampler.model(full, output_hidden_states=True)
    span = slice(ids.shape[1] - 1, full.shape[1] - 1)  # positions whose logits drew each new token
    return out.logits[0, span], out.hidden_states[layer + 1][0, span]


def test_batched_particles_use_raw_logits_first_eos_and_hooked_layer(model_dir):
    sampler = HFSampler.from_path(model_dir, hidden_module="model.layers.0")
    eos = sampler.tokenizer.eos_token_id
    # Bias sampling towards EOS so rows end at different steps; the bias and the temperature change
    # the processed scores only, so log-probs must still match the raw logits.
    sampler.model.generation_config.sequence_bias = [[[eos], 6.0]]
    torch.manual_seed(0)
    params = SamplingParams(temperature=1.7, top_p=0.95, max_new_tokens=10)
    clouds = sampler.sample(PROMPTS, 4, params)
    assert [len(c) for c in clouds] == [4, 4]
    lengths = [p.n_tokens for c in clouds for p in c]
    assert min(lengths) < 10 and any(p.token_ids[-1] == eos for c in clouds for p in c)
    for prompt, cloud in zip(PROMPTS, clouds):
        for p in cloud:
            assert eos not in p.token_ids[:-1]  # cut at the first EOS, EOS kept
            assert p.hidden.shape == (p.n_tokens, 32)
            logits, hidden = _reference(sampler, prompt, p, layer=0)
            logp = torch.log_softmax(logits, -1)
            expected = logp.gather(1, torch.tensor(p.token_ids)[:, None]).squeeze(1)
            torch.testing.assert_close(p.logprobs, expected, atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(p.entropies, -(logp.exp() * logp).sum(-1), atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(p.hidden, hidden, atol=1e-4, rtol=1e-4)


def test_greedy_takes_argmax_and_k_must_be_one(model_dir):
    sampler = HFSampler.from_path(model_dir)
    (cloud,) = sampler.sample(PROMPTS[:1], 1, SamplingParams(temperature=0.0, max_new_tokens=6))
    p = cloud[0]
    assert p.hidden is None
    logits, _ = _reference(sampler, PROMPTS[0], p, layer=0)
    assert p.token_ids == logits.argmax(-1).tolist()
    with pytest.raises(ValueError, match="greedy"):
        sampler.sample(PROMPTS, 2, SamplingParams(temperature=0.0))


def test_stop_strings_cut_text_and_tokens(model_dir):
    sampler = HFSampler.from_path(model_dir)
    torch.manual_seed(1)
    (cloud,) = sampler.sample(PROMPTS[:1], 8, SamplingParams(max_new_tokens=20, stop=(" ",)))
    for p in cloud:
        assert " " not in p.text
        assert len(p.logprobs) == len(p.entropies) == p.n_tokens
        full = sampler.tokenizer.decode(p.token_ids, skip_special_tokens=True)
        if " " in full:  # the last kept token completes the stop string, the one before does not
            assert " " not in sampler.tokenizer.decode(p.token_ids[:-1], skip_special_tokens=True)


def test_bad_paths_and_layer_names_are_clear(model_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a local folder"):
        HFSampler.from_path(tmp_path / "nope")
    with pytest.raises(KeyError, match="hidden_module 'model.layers.9'"):
        HFSampler.from_path(model_dir, hidden_module="model.layers.9")
