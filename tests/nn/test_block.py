import pytest
import torch

from attractor.nn import Block, BlockConfig, Rotary, apply_rotary


def _positions_affected(causal: bool) -> torch.Tensor:
    torch.manual_seed(0)
    cfg = BlockConfig(dim=32, n_heads=4, causal=causal)
    block = Block(cfg).eval()
    rope = Rotary(cfg.head_dim, 16)(10)
    x = torch.randn(2, 10, 32)
    y = x.clone()
    y[:, 6] += 1.0
    return (block(x, rope) - block(y, rope)).abs().amax(dim=(0, 2))


def test_causal_block_ignores_future_positions():
    diff = _positions_affected(causal=True)
    assert torch.all(diff[:6] == 0)
    assert torch.all(diff[6:] > 0)


def test_bidirectional_block_sees_every_position():
    assert torch.all(_positions_affected(causal=False) > 0)


def test_rotary_scores_depend_only_on_relative_position():
    rot = Rotary(8, 32)
    cos, sin = rot(32)
    q, k = torch.randn(8), torch.randn(8)
    score = lambda i, j: (apply_rotary(q.view(1, 1, 1, 8), cos[i : i + 1], sin[i : i + 1])
                          * apply_rotary(k.view(1, 1, 1, 8), cos[j : j + 1], sin[j : j + 1])).sum()
    assert torch.allclose(score(5, 2), score(20, 17), atol=1e-5)
    assert not torch.allclose(score(5, 2), score(5, 3), atol=1e-3)


def test_rotary_rejects_odd_head_dim_and_long_sequences():
    with pytest.raises(ValueError, match="even head dimension"):
        Rotary(7, 16)
    with pytest.raises(ValueError, match="max_len=16"):
        Rotary(8, 16)(17)


def test_swiglu_matches_gelu_mlp_parameter_count():
    cfg = BlockConfig(dim=96, n_heads=4, mlp_ratio=4.0)
    mlp = Block(cfg).mlp
    swiglu = sum(p.numel() for p in mlp.parameters())
    assert abs(swiglu - 2 * 4 * 96 * 96) / (2 * 4 * 96 * 96) < 0.02
