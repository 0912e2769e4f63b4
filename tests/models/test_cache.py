"""Incremental decoding with the key/value cache against the full-sequence forward."""
from types import SimpleNamespace

import pytest
import torch

from attractor import build_model
from attractor.decoding.samplers import NativeSampler, SamplingParams

BASE = dict(vocab_size=13, max_len=24, dim=32, n_heads=4, causal=True)
MODELS = {
    "transformer": dict(name="transformer", n_layers=2),
    "transformer_learned_positions": dict(name="transformer", n_layers=2, positions="learned"),
    "looped": dict(name="looped", prelude_layers=1, core_layers=1, loops=3, coda_layers=1),
    "attractor": dict(name="attractor", backbone_layers=1, f_layers=2, gate_init=0.5,
                      solver=dict(tol=1e-10, max_iter=80)),
}
# (model, mode) pairs whose cached decode is the full-sequence computation exactly (float rounding aside)
EXACT = [("transformer", None), ("transformer_learned_positions", None), ("looped", None), ("looped", "iters=5"),
         ("attractor", "none")]


def _model(name, **overrides):
    torch.manual_seed(0)
    return build_model({**BASE, **MODELS[name], **overrides}).double().eval()


def _incremental(model, tokens, mode, chunks=(5, 3)):
    """Logits of ``tokens`` fed as a prompt, then chunks of several tokens, then one token at a time."""
    cache, parts, start = model.init_cache(), [], 0
    for size in (*chunks, *[1] * (tokens.shape[1] - sum(chunks))):
        parts.append(model(tokens[:, start : start + size], mode=mode, cache=cache).logits)
        start += size
    assert cache.length == tokens.shape[1]
    return torch.cat(parts, dim=1)


@pytest.mark.parametrize("name,mode", EXACT)
@torch.no_grad()
def test_cached_decode_is_the_full_forward(name, mode):
    model = _model(name)
    tokens = torch.randint(0, 13, (3, 20), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(_incremental(model, tokens, mode), model(tokens, mode=mode).logits,
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("tol", [1e-6, 1e-8])
@torch.no_grad()
def test_cached_attractor_solve_matches_the_full_solve_within_tolerance(tol):
    """With the solver, both reach the same fixed points: the per-position solve against cached keys
    of converged earlier positions agrees with the joint solve to the solver's tolerance (logit gap
    below 10 x tol). At 2 iterations neither is converged and they differ (earlier positions' keys
    move during the joint solve)."""
    model = _model("attractor", solver=dict(tol=tol, max_iter=80))
    tokens = torch.randint(0, 13, (3, 20), generator=torch.Generator().manual_seed(1))
    full = model(tokens, mode="solver")
    assert bool(full.stats["converged"].all())
    assert (_incremental(model, tokens, "solver") - full.logits).abs().max().item() < 10 * tol
    unconverged = (_incremental(model, tokens, "iters=2") - model(tokens, mode="iters=2").logits).abs().max().item()
    assert unconverged > 1e-4


def test_cache_refuses_misuse():
    tokens = torch.randint(0, 13, (2, 4))
    bidirectional = build_model({**BASE, **MODELS["transformer"], "causal": False})
    with pytest.raises(ValueError, match="causal"):
        bidirectional.init_cache()
    model = _model("attractor")
    cache = model.init_cache()
    model(tokens, mode="none", cache=cache)
    with pytest.raises(ValueError, match="filled in mode 'none', called in mode 'solver'"):
        model(tokens, mode="solver", cache=cache)
    with pytest.raises(ValueError, match="exceeds model max_len=24"):
        model(torch.randint(0, 13, (2, 21)), mode="none", cache=cache)
    with pytest.raises(ValueError, match="state and cache"):
        model(tokens, cache=model.init_cache(), state=torch.zeros(2, 4, 32, dtype=torch.float64))


class _Ints:
    def encode(self, text):
        return [int(t) for t in text.split()]

    def decode(self, ids):
        return " ".join(map(str, ids))


class _Counting(torch.nn.Module):
    """The model as the sampler sees it, recording the batch size of every call."""

    def __init__(self, model, mode):
        super().__init__()
        self.model, self.mode, self.batches = model, mode, []

    def forward(self, tokens, cache=None):
        self.batches.append(tokens.shape[0])
        return self.model(tokens, mode=self.mode, cache=cache)

    def init_cache(self):
        return self.model.init_cache()


def _generate(model, mode, use_cache, prompts, k, params, max_len=BASE["max_len"], eos_id=None):
    counting = _Counting(model, mode)
    sampler = NativeSampler(counting, _Ints(), eos_id=eos_id, hidden_module="model.final_norm", max_len=max_len,
                            use_cache=use_cache)
    torch.manual_seed(0)
    return sampler.sample(prompts, k, params), counting.batches


@pytest.mark.parametrize("name,mode", EXACT + [("attractor", "solver")])
def test_greedy_continuations_with_and_without_cache_are_identical(name, mode):
    model = _model(name)
    params = SamplingParams(temperature=0, max_new_tokens=12)
    (cached,), _ = _generate(model, mode, True, ["1 2 3 4 5"], 1, params)
    (full,), _ = _generate(model, mode, False, ["1 2 3 4 5"], 1, params)
    assert cached[0].token_ids == full[0].token_ids
    torch.testing.assert_close(cached[0].logprobs, full[0].logprobs, rtol=0, atol=1e-6)
    torch.testing.assert_close(cached[0].hidden, full[0].hidden, rtol=0, atol=1e-6)


def test_particles_share_the_prompts_cache_and_match_uncached_sampling():
    """K particles per prompt: each prompt runs once, finished rows leave the cache, and the draws
    (same seed) equal those of full re-runs; past max_len the sampler falls back to the window."""
    model = _model("transformer")
    params = SamplingParams(temperature=1.5, max_new_tokens=14)
    prompts = ["1 2 3", "4 5 6", "7 8"]
    cached, batches = _generate(model, None, True, prompts, 4, params, max_len=12, eos_id=0)
    full, _ = _generate(model, None, False, prompts, 4, params, max_len=12, eos_id=0)
    assert batches[:2] == [2, 8]  # the two 3-token prompts once each, then their 8 particles
    assert min(batches) < 8  # rows that drew EOS left
    for cloud_c, cloud_f in zip(cached, full):
        for pc, pf in zip(cloud_c, cloud_f):
            assert pc.token_ids == pf.token_ids
            torch.testing.assert_close(pc.logprobs, pf.logprobs, rtol=0, atol=1e-6)
            torch.testing.assert_close(pc.hidden, pf.hidden, rtol=0, atol=1e-6)
    assert any(len(p.token_ids) > 12 - 3 for cloud in cached for p in cloud)  # some went past max_len
