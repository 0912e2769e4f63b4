"""TRM and TRM-DEQ: carried latents, gradients through the last cycle only, the solve, EqR's noise."""
import copy
import dataclasses

import pytest
import torch

from attractor.config import ConfigError
from attractor.models import TRM, TRMDEQ, build_model, model_config

VOCAB, LEN = 7, 12


def make(name: str = "trm", **kw):
    torch.manual_seed(0)
    base = dict(name=name, vocab_size=VOCAB, max_len=LEN, dim=16, n_heads=2, n_layers=1, h_cycles=3)
    if name == "trm":
        base["l_cycles"] = 2
    return build_model({**base, **kw})


def tokens(batch: int = 3) -> torch.Tensor:
    return torch.randint(1, VOCAB, (batch, LEN), generator=torch.Generator().manual_seed(1))


def loss_of(out) -> torch.Tensor:
    return out.logits.float().pow(2).mean() + out.stats["q_halt"].pow(2).mean()


@pytest.mark.parametrize("name", ["trm", "trm_deq"])
def test_carry_is_detached_and_used(name):
    model, t = make(name, solver=dict(max_iter=6, backward="last_k", last_k=2)) if name == "trm_deq" else make(), tokens()
    first = model(t)
    second = model(t, state=first.state)
    assert first.state.shape == (3, LEN, 32) and first.state.grad_fn is None and not first.state.requires_grad
    assert not torch.allclose(first.logits, second.logits, atol=1e-4)  # segment 2 continues from segment 1
    restarted = model(t)
    torch.testing.assert_close(restarted.logits, first.logits)  # a fresh start is the same start


def grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("name", ["trm", "trm_deq"])
def test_gradient_only_through_the_last_cycle(name):
    """The model's gradient equals that of a copy run for one cycle from the state the first T - 1
    cycles reach, and differs from full backpropagation through all T cycles (the explicit unroll)."""
    kw = dict(solver=dict(name="fixed_point_iter", max_iter=4, backward="unrolled")) if name == "trm_deq" else {}
    model, t = make(name, **kw), tokens()
    mode = "iters=4" if name == "trm_deq" else None  # a fixed budget: every cycle runs the same solve
    start = model(t, mode="none").state
    loss_of(model(t, mode=mode, state=start)).backward()
    ours = grads(model)

    one = copy.deepcopy(model)
    one.zero_grad()
    one.cfg = dataclasses.replace(model.cfg, h_cycles=1)
    with torch.no_grad():
        warm = start
        for _ in range(2):
            warm = one(t, mode=mode, state=warm).state
    loss_of(one(t, mode=mode, state=warm)).backward()
    reference = grads(one)
    assert ours.keys() == reference.keys()
    for key in ours:
        torch.testing.assert_close(ours[key], reference[key], rtol=1e-5, atol=1e-7)

    model.zero_grad()  # full BPTT through every cycle: a different gradient
    x, rope = model.inputs(t)
    parsed = 4 if name == "trm_deq" else None
    y, z = start.chunk(2, dim=-1)
    for _ in range(3):
        y, z, _ = model.cycle(y, z, x, rope, parsed)
    (model.readout(y).pow(2).mean() + model.q_head(y.mean(1)).squeeze(-1).pow(2).mean()).backward()
    full = grads(model)
    assert not torch.allclose(full["blocks.blocks.0.attn.qkv.weight"], ours["blocks.blocks.0.attn.qkv.weight"])


def test_trm_deq_solve_converges_to_tolerance():
    tol = 1e-5
    model = make("trm_deq", damping=0.5, solver=dict(name="anderson", max_iter=60, tol=tol, stop_mode="rel")).eval()
    t = tokens()
    x, rope = model.inputs(t)
    y, z = model.initial_state(x).chunk(2, dim=-1)
    with torch.no_grad():
        z_star, info = model.reason(z, y + x, rope, None)
        g = model.damped(z_star, model.net(z_star + y + x, rope))
    residual = (g - z_star).flatten(1).norm(dim=1) / g.flatten(1).norm(dim=1)
    assert info["converged"].all() and (residual <= tol * 1.01).all(), residual
    assert (info["evaluations"] < 60).all()
    # iters=N runs exactly N evaluations per cycle; none, one explicit update per cycle
    with torch.no_grad():
        assert model(t, mode="iters=5").stats["iterations"].tolist() == [3 * (5 + 1)] * 3
        assert model(t, mode="none").stats["iterations"].tolist() == [3 * (1 + 1)] * 3


def test_eqr_noise_only_in_training_unless_asked():
    model, t = make(noise_std=0.5, damping=0.95, latent_init="random"), tokens()
    model.eval()
    torch.testing.assert_close(model(t).logits, model(t).logits, rtol=0, atol=0)  # no noise, seeded starts
    model.train()
    assert not torch.allclose(model(t).logits, model(t).logits)
    noisy = make(noise_std=0.5, latent_init="fixed", eval_noise=True).eval()
    assert not torch.allclose(noisy(t).logits, noisy(t).logits)
    quiet = make(noise_std=0.5, latent_init="fixed").eval()
    torch.testing.assert_close(quiet(t).logits, quiet(t).logits, rtol=0, atol=0)


def test_init_seed_fixes_the_random_starts_of_evaluation():
    """Evaluation draws random initial latents from ``init_seed``: the same seed scores the same,
    another seed starts elsewhere; training draws fresh ones every time."""
    t = tokens()
    model = make(latent_init="random").eval()
    same_seed = make(latent_init="random").eval()
    other_seed = make(latent_init="random", init_seed=1).eval()
    start = model.initial_state(torch.zeros(3, LEN, 16))
    assert torch.equal(start, same_seed.initial_state(torch.zeros(3, LEN, 16)))
    assert not torch.allclose(start, other_seed.initial_state(torch.zeros(3, LEN, 16)))
    assert torch.equal(model(t).logits, same_seed(t).logits)
    assert not torch.allclose(model(t).logits, other_seed(t).logits)
    model.train()
    assert not torch.equal(model.initial_state(torch.zeros(3, LEN, 16)), model.initial_state(torch.zeros(3, LEN, 16)))


def test_random_initial_latents_have_the_configured_scale():
    model = make(latent_init="random", init_std=2.0).train()
    x = torch.zeros(64, LEN, 16)
    assert abs(model.initial_state(x).std().item() - 2.0) < 0.05
    fixed = make().eval()
    state = fixed.initial_state(x)
    assert torch.equal(state[0], state[-1])  # one draw shared by every sample


def test_token_mixing_mlp_and_its_sequence_check():
    model, t = make(mixer="mlp"), tokens()
    assert model(t).logits.shape == (3, LEN, VOCAB)
    assert not any("qkv" in n for n, _ in model.named_parameters())
    with pytest.raises(ValueError, match="max_len=12"):
        model(t[:, :6])


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="model.damping"):
        model_config(dict(name="trm", vocab_size=5, max_len=4, damping=0.0))
    with pytest.raises(ConfigError, match="model.eval_noise"):
        model_config(dict(name="trm", vocab_size=5, max_len=4, eval_noise=True))
    with pytest.raises(ConfigError, match="model.solver.jac_reg_weight"):
        model_config(dict(name="trm_deq", vocab_size=5, max_len=4, solver=dict(jac_reg_weight=1e-3)))
    assert isinstance(make(), TRM) and isinstance(make("trm_deq"), TRMDEQ)
