"""The reference recipe as options of model=attractor: per-sublayer bounded gates, the scaled
initialisation, a deterministic map, the preset, and the parity script's refusal without a checkout."""
import math

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from attractor import build_model
from attractor.compose import compose
from attractor.config import ConfigError
from attractor.nn.block import SublayerGate
from benchmarks import parity

REF = dict(name="attractor", vocab_size=65, max_len=16, dim=64, n_heads=4, backbone_layers=2, f_layers=2,
           map="gated_sublayers", gate_init=0.25, init="scaled", causal=True)


def _model(**overrides):
    torch.manual_seed(0)
    return build_model({**REF, **overrides})


def _gates(model):
    return [m for m in model.f_blocks.modules() if isinstance(m, SublayerGate)]


def test_every_map_sublayer_has_its_gate_at_the_initial_value_and_the_backbone_none():
    model = _model()
    gates = _gates(model)
    assert len(gates) == 4  # attention and MLP of each of the two map blocks
    for gate in gates:
        torch.testing.assert_close(gate(torch.ones(64)), torch.full((64,), 0.25), rtol=0, atol=1e-6)
    assert not [m for m in model.backbone.modules() if isinstance(m, SublayerGate)]


@pytest.mark.parametrize("gate_max", [1.0, 0.75])
def test_gates_stay_inside_zero_and_gate_max(gate_max):
    gate = SublayerGate(8, init=0.5 * gate_max, gate_max=gate_max)
    with torch.no_grad():
        gate.logit.copy_(torch.linspace(-40, 40, 8))
    values = gate(torch.ones(8)).detach()
    assert values.min() >= 0 and values.max() <= gate_max
    assert values[0] < 1e-12 and values[-1].item() == pytest.approx(gate_max)


def test_gate_init_at_gate_max_saturates_like_the_reference_140m_config():
    gate = SublayerGate(4, init=0.75, gate_max=0.75)
    torch.testing.assert_close(gate(torch.ones(4)), torch.full((4,), 0.75), rtol=1e-5, atol=0)
    assert gate.logit[0].item() == pytest.approx(math.log((1 - 1e-6) / 1e-6))


def test_gated_sublayer_map_is_the_reference_formula():
    """f(z, c) = FPHead(z + c) - z, FPHead's sublayer outputs each scaled by their gate."""
    model = _model()
    with torch.no_grad():  # distinct gates per sublayer and channel, so a swapped gate would show
        for i, gate in enumerate(_gates(model)):
            gate.logit.copy_(torch.randn(64) + i)
    tokens = torch.randint(0, 65, (2, 16))
    x, rope = model.embed(tokens)
    c = model.backbone(x, rope)
    z = torch.randn_like(c)
    h = z + c
    for block in model.f_blocks.blocks:
        h = h + torch.sigmoid(block.attn_gate.logit) * block.attn(block.attn_norm(h), rope)
        h = h + torch.sigmoid(block.mlp_gate.logit) * block.mlp(block.mlp_norm(h))
    torch.testing.assert_close(model.attractor_map(z, c, rope), h - z, rtol=1e-5, atol=1e-6)


def _std_of(model, suffix):
    weights = [p for n, p in model.named_parameters() if n.endswith(suffix)]
    return torch.cat([w.flatten() for w in weights]).std().item(), max(w.abs().max().item() for w in weights)


def test_scaled_init_has_the_reference_statistics():
    model = _model(vocab_size=4096)  # enough embedding entries for a tight estimate
    sigma = math.sqrt(2 / (5 * 64))
    truncated = sigma * 0.9866  # std of N(0, sigma) truncated at 3 sigma
    std, peak = _std_of(model, "embedding.weight")
    assert std == pytest.approx(truncated, rel=0.02) and peak <= 3 * sigma
    assert model.head.weight is model.embedding.weight
    std, peak = _std_of(model, "qkv.weight")
    assert std == pytest.approx(truncated, rel=0.02) and peak <= 3 * sigma
    std, peak = _std_of(model, "down.weight")  # residual outputs: / sqrt(2 * depth), depth 4
    assert std == pytest.approx(truncated / math.sqrt(8), rel=0.03) and peak <= 3 * sigma / math.sqrt(8)


def test_default_init_is_unchanged():
    std, _ = _std_of(_model(init="gpt2", vocab_size=4096), "embedding.weight")
    assert std == pytest.approx(0.02, rel=0.03)


def test_map_is_deterministic_in_training_mode():
    model = _model(dropout=0.3).train()
    f = model.latent_map(torch.randint(0, 65, (2, 16)))
    z = torch.randn(2, 16, 64)
    assert torch.equal(f(z), f(z))


@pytest.mark.parametrize("overrides, key", [
    (dict(map="gated_residual", gate_max=0.5, gate_init=0.1), "gate_max"),
    (dict(gate_init=0.8, gate_max=0.75), "gate_init"),
    (dict(gate_max=0.0), "gate_max"),
    (dict(init="orthogonal"), "init"),
])
def test_bad_gate_and_init_options_name_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key):
        _model(**overrides)


def test_preset_builds_the_reference_recipe_and_trains_its_gates():
    cfg = compose(["task=lm", "model=attractor_ref", "solver=reference_lm", "task.seq_len=16"])
    node = OmegaConf.to_container(cfg.model, resolve=True)
    node["solver"] = OmegaConf.to_container(cfg.solver, resolve=True)
    assert (node["map"], node["gate_init"], node["init"], node["solver"]["backward"]) == \
        ("gated_sublayers", 0.25, "scaled", "neumann")
    torch.manual_seed(0)
    model = build_model(node).train()
    tokens = torch.randint(0, 65, (2, 17))
    out = model(tokens[:, :-1])
    F.cross_entropy(out.logits.flatten(0, 1), tokens[:, 1:].flatten()).backward()
    for gate in _gates(model):
        assert gate.logit.grad is not None and gate.logit.grad.abs().sum() > 0


def test_parity_script_explains_a_missing_reference_checkout(capsys):
    with pytest.raises(SystemExit) as done:
        parity.main([])
    assert done.value.code == 2 and "no --reference given" in capsys.readouterr().err


def test_parity_script_refuses_a_folder_that_is_not_the_reference(tmp_path):
    with pytest.raises(SystemExit, match="not-a-checkout"):
        with parity.reference_modules(tmp_path / "not-a-checkout"):
            pass


def test_parity_batches_are_a_function_of_seed_and_step(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("abcdefgh" * 50)
    train, val, vocab = parity.char_data(text)
    assert vocab == 8 and len(train) + len(val) == 400
    a, b = parity.train_batch(train, 1, 7, 4, 10), parity.train_batch(train, 1, 7, 4, 10)
    assert torch.equal(a[0], b[0]) and torch.equal(a[0][:, 1:], a[1][:, :-1])
    assert not torch.equal(a[0], parity.train_batch(train, 1, 8, 4, 10)[0])
