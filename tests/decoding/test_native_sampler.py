"""NativeSampler against a stand-in for the project's models: LongTensor (B, T) -> object with .logits."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from attractor.decoding.samplers import NativeSampler, SamplingParams, _draw, trajectory_length

ALPHABET = "abc +=#\n$"  # '$' is the end-of-sequence character


class CharTok:
    def encode(self, text):
        return [ALPHABET.index(c) for c in text]

    def decode(self, ids):
        return "".join(ALPHABET[i] for i in ids if ALPHABET[i] != "$")


class Bigram(nn.Module):
    """Next-token logits depend on the current token only, so the raw log-probs are known exactly."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.table = nn.Embedding(len(ALPHABET), len(ALPHABET))
        with torch.no_grad():
            self.table.weight[:, ALPHABET.index("$")] += 1.0
        self.batch_sizes = []

    def forward(self, ids):
        self.batch_sizes.append(ids.shape[0])
        return SimpleNamespace(logits=self.table(ids))


def test_native_particles_use_raw_logits_and_stop_at_eos():
    model, eos = Bigram(), ALPHABET.index("$")
    sampler = NativeSampler(model, CharTok(), eos_id=eos, hidden_module="table")
    torch.manual_seed(0)
    prompts = ["ab", "c+a", "b+"]  # "ab" and "b+" share a batch; the log-probs below tell clouds apart
    clouds = sampler.sample(prompts, 6, SamplingParams(temperature=2.0, top_p=0.9, max_new_tokens=12))
    assert [len(c) for c in clouds] == [6, 6, 6]
    raw = torch.log_softmax(model.table.weight.detach(), -1)
    ended_early = 0
    for prompt, cloud in zip(prompts, clouds):
        for p in cloud:
            prev = [CharTok().encode(prompt)[-1]] + p.token_ids[:-1]
            torch.testing.assert_close(p.logprobs, raw[prev, p.token_ids])
            torch.testing.assert_close(p.entropies, -(raw[prev].exp() * raw[prev]).sum(-1))
            torch.testing.assert_close(p.hidden, model.table.weight.detach()[prev])
            torch.testing.assert_close(p.confidences, -raw[prev].mean(-1))  # DeepConf top-20 of 9 tokens: all
            assert p.solver == {}
            assert eos not in p.token_ids[:-1] and "$" not in p.text
            ended_early += p.n_tokens < 12
    assert ended_early > 0
    assert model.batch_sizes[0] == 12 and min(model.batch_sizes) < 6  # finished rows leave the forward


def test_native_greedy_and_stop_strings():
    model = Bigram()
    sampler = NativeSampler(model, CharTok())
    (cloud,) = sampler.sample(["a"], 1, SamplingParams(temperature=0.0, max_new_tokens=5))
    ids = [0]
    for _ in range(5):
        ids.append(int(model.table.weight[ids[-1]].argmax()))
    assert cloud[0].token_ids == ids[1:]
    torch.manual_seed(0)
    (cloud,) = sampler.sample(["a"], 4, SamplingParams(max_new_tokens=30, stop=("b",)))
    assert all("b" not in p.text for p in cloud)
    with pytest.raises(ValueError, match="empty prompt"):
        sampler.sample([""], 2, SamplingParams())


def test_rows_leave_the_forward_once_they_complete_a_stop_string():
    model = Bigram()
    sampler = NativeSampler(model, CharTok(), use_cache=False)
    torch.manual_seed(0)
    (cloud,) = sampler.sample(["a"], 6, SamplingParams(max_new_tokens=60, stop=("b",)))
    assert all(CharTok().decode(p.token_ids).endswith("b") for p in cloud)  # the token completing it is kept
    assert model.batch_sizes[0] == 6 and len(model.batch_sizes) == max(p.n_tokens for p in cloud) < 60
    assert sorted(model.batch_sizes, reverse=True) == model.batch_sizes and model.batch_sizes[-1] < 6


def test_trajectory_length_first_eos_inclusive_and_stop_string():
    decode = lambda ids: "".join(ALPHABET[i] for i in ids)
    ids = CharTok().encode("ab+c$a$")
    assert trajectory_length(ids, {8}, decode, ()) == 5
    assert trajectory_length(ids, set(), decode, ()) == 7
    assert trajectory_length(ids, {8}, decode, ("+c",)) == 4
    assert trajectory_length(ids, {8}, decode, ("zz",)) == 5


def test_draw_filters():
    logits = torch.tensor([[3.0, 0.0, -1.0, 2.9]])
    torch.manual_seed(0)
    assert set(_draw(logits.repeat(200, 1), SamplingParams(top_k=1)).tolist()) == {0}
    # softmax = [0.507, 0.025, 0.009, 0.459]: the nucleus for p=0.5 is token 0 alone, for p=0.9 tokens 0 and 3.
    assert set(_draw(logits.repeat(400, 1), SamplingParams(top_p=0.5)).tolist()) == {0}
    assert set(_draw(logits.repeat(400, 1), SamplingParams(top_p=0.9)).tolist()) == {0, 3}
    assert set(_draw(logits.repeat(50, 1), SamplingParams(temperature=0.0)).tolist()) == {0}


def test_project_model_through_native_sampler():
    """The project's own causal Transformer, built by its registry, samples through the same path."""
    from attractor import build_model

    model = build_model({"name": "transformer", "vocab_size": len(ALPHABET), "max_len": 8, "dim": 16,
                         "n_heads": 2, "n_layers": 1, "causal": True})
    sampler = NativeSampler(model, CharTok(), eos_id=ALPHABET.index("$"), max_len=8)
    torch.manual_seed(0)
    (cloud,) = sampler.sample(["ab+c"], 3, SamplingParams(max_new_tokens=10))
    assert len(cloud) == 3
    for p in cloud:
        assert len(p.logprobs) == p.n_tokens <= 10 and bool((p.logprobs <= 0).all())


class SolvingBigram(Bigram):
    """A Bigram that reports per-row solver statistics, as the attractor does: a row's iterations
    are its current token id, so each generated token's statistic is known."""

    def forward(self, ids, cache=None):
        out = super().forward(ids)
        return SimpleNamespace(logits=out.logits, stats={"iterations": ids[:, -1].float(), "rel_residual": ids[:, -1] / 100.0,
                                                         "converged": torch.ones(len(ids), dtype=torch.bool)})


def test_native_sampler_keeps_per_token_solver_statistics():
    sampler = NativeSampler(SolvingBigram(), CharTok(), eos_id=ALPHABET.index("$"))
    torch.manual_seed(1)
    for prompt, cloud in zip(["ab", "c+a"], sampler.sample(["ab", "c+a"], 3, SamplingParams(max_new_tokens=6))):
        for p in cloud:
            prev = torch.tensor([CharTok().encode(prompt)[-1]] + p.token_ids[:-1], dtype=torch.float)
            assert set(p.solver) == {"iterations", "rel_residual"}
            torch.testing.assert_close(p.solver["iterations"], prev)
            torch.testing.assert_close(p.solver["rel_residual"], prev / 100)
