import math

import pytest
import torch

from attractor.particles.weights import WeightSpec, boltzmann, inverse_power, parse_weight_spec, uniform


def test_boltzmann_hand_case_and_beta_zero():
    w = boltzmann(torch.tensor([0.0, math.log(2)]), beta=1.0)
    assert w.tolist() == pytest.approx([2 / 3, 1 / 3])
    assert boltzmann(torch.tensor([0.3, 9.0, 1.0]), beta=0.0).tolist() == pytest.approx([1 / 3] * 3)


def test_boltzmann_large_beta_does_not_overflow():
    w = boltzmann(torch.tensor([1000.0, 1001.0]), beta=100.0)
    assert torch.isfinite(w).all() and float(w.sum()) == pytest.approx(1.0) and w[0] > 0.999


def test_boltzmann_standardize_is_scale_and_shift_free():
    e = torch.tensor([1.0, 3.0])
    expected = [math.e / (math.e + 1 / math.e), (1 / math.e) / (math.e + 1 / math.e)]  # z = [-1, 1]
    assert boltzmann(e, standardize=True).tolist() == pytest.approx(expected)
    assert boltzmann(7 * e - 4, standardize=True).tolist() == pytest.approx(expected)
    assert boltzmann(torch.tensor([2.0, 2.0]), standardize=True).tolist() == pytest.approx([0.5, 0.5])


def test_inverse_power_hand_case_zero_and_negative():
    assert inverse_power(torch.tensor([1.0, 2.0])).tolist() == pytest.approx([0.8, 0.2])
    assert inverse_power(torch.tensor([1.0, 2.0]), p=1.0).tolist() == pytest.approx([2 / 3, 1 / 3])
    w = inverse_power(torch.tensor([0.0, 1.0]))
    assert torch.isfinite(w).all() and w[0] > 0.999
    with pytest.raises(ValueError, match="non-negative"):
        inverse_power(torch.tensor([-0.5, 1.0]))


def test_uniform():
    assert uniform(torch.tensor([5.0, 0.0, 2.0, 1.0])).tolist() == [0.25] * 4


def test_weight_spec_parsing_and_labels():
    spec = parse_weight_spec({"name": "boltzmann", "beta": 5.0, "standardize": True})
    assert spec.label == "boltzmann(beta=5.0,standardize=True)" and spec.uses_energy
    assert spec(torch.tensor([0.0, 0.0])).tolist() == pytest.approx([0.5, 0.5])
    assert WeightSpec("uniform").label == "uniform" and not WeightSpec("uniform").uses_energy
    with pytest.raises(KeyError, match="valid: boltzmann, inverse_power, uniform"):
        parse_weight_spec({"name": "gibbs"})
    with pytest.raises(KeyError, match="no parameter 'beta'; valid: p, eps"):
        parse_weight_spec({"name": "inverse_power", "beta": 2})
