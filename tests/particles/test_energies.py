"""The particle energies on hand-worked tensors."""
import math

import pytest
import torch

from attractor.particles.energies import (hidden_svd_entropy, lowest_window_confidence, nll, psd_spectral_entropy,
                                          token_entropy)


def test_nll_is_mean_negative_logprob():
    assert nll(torch.tensor([math.log(0.5), math.log(0.25)])) == pytest.approx(1.5 * math.log(2))


def test_token_entropy_is_mean():
    assert token_entropy(torch.tensor([1.0, 2.0, 3.0])) == pytest.approx(2.0)


def test_psd_entropy_hand_cases():
    # A lone spike has a flat spectrum; a Nyquist oscillation puts all power in one bin.
    assert psd_spectral_entropy(torch.tensor([1.0, 0.0, 0.0, 0.0])) == pytest.approx(1.0)
    assert psd_spectral_entropy(torch.tensor([1.0, -1.0, 1.0, -1.0])) == pytest.approx(0.0, abs=1e-12)
    # [0, 1, 0, -1]: |X1|^2 = |X3|^2 = 4, X2 = 0 -> p = [1/2, 0, 1/2] over 3 bins -> ln2 / ln3.
    assert psd_spectral_entropy(torch.tensor([0.0, 1.0, 0.0, -1.0])) == pytest.approx(math.log(2) / math.log(3))
    # No power at all (constant) or a single token: nothing to spread, energy 0.
    assert psd_spectral_entropy(torch.full((5,), -2.0)) == 0.0
    assert psd_spectral_entropy(torch.tensor([-1.0])) == 0.0


def test_hidden_svd_entropy_hand_cases():
    assert hidden_svd_entropy(torch.eye(3)) == pytest.approx(1.0)
    rank_one = torch.outer(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, -1.0]))
    assert hidden_svd_entropy(rank_one) == pytest.approx(0.0, abs=1e-6)
    p = torch.tensor([0.75, 0.25])  # singular values 3 and 1
    expected = float(-(p * p.log()).sum() / math.log(2))
    assert hidden_svd_entropy(torch.diag(torch.tensor([3.0, 1.0]))) == pytest.approx(expected)


def test_empty_trajectory_and_bad_shape_are_errors():
    with pytest.raises(ValueError, match="no tokens"):
        nll(torch.tensor([]))
    with pytest.raises(ValueError, match=r"\(T, H\)"):
        hidden_svd_entropy(torch.ones(2, 2, 2))


def test_lowest_window_confidence_hand_values():
    c = torch.tensor([5.0, 4.0, 1.0, 2.0, 6.0, 6.0])
    # windows of 2: 4.5, 2.5, 1.5, 4, 6 -> 1.5; of 3: 10/3, 7/3, 3, 14/3 -> 7/3
    assert lowest_window_confidence(c, 2) == pytest.approx(1.5)
    assert lowest_window_confidence(c, 3) == pytest.approx(7 / 3)
    assert lowest_window_confidence(c, 8) == pytest.approx(4.0)  # shorter than a window: its mean
    assert lowest_window_confidence(c, 1) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="window"):
        lowest_window_confidence(c, 0)
