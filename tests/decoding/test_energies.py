"""The LM decoder's energy registry: names, and which field of a Particle each energy reads."""
import math

import pytest
import torch

from attractor.decoding.energies import compute_energies, get_energy
from attractor.decoding.particle import Particle


def test_registry_names_valid_energies_and_reads_the_right_field():
    with pytest.raises(KeyError, match="valid: hidden_svd_entropy, nll, psd_spectral_entropy, solver_iterations, solver_residual, token_entropy"):
        get_energy("spectral")
    p = Particle([1, 2], "x", torch.tensor([math.log(0.5), math.log(0.5)]), torch.tensor([0.1, 0.3]), torch.eye(2))
    out = compute_energies(["nll", "token_entropy", "hidden_svd_entropy"], [p, p])
    assert out["nll"] == pytest.approx([math.log(2)] * 2)
    assert out["token_entropy"] == pytest.approx([0.2] * 2)
    assert out["hidden_svd_entropy"] == pytest.approx([1.0] * 2)
    with pytest.raises(ValueError, match="hidden_module"):
        compute_energies(["hidden_svd_entropy"], [Particle([1], "x", torch.zeros(1), torch.zeros(1))])


def test_solver_energies_read_the_per_token_statistics():
    p = Particle([1, 2], "x", torch.zeros(2), torch.zeros(2),
                 solver={"rel_residual": torch.tensor([1e-3, 3e-3]), "iterations": torch.tensor([4.0, 7.0])})
    out = compute_energies(["solver_residual", "solver_iterations"], [p])
    assert out == {"solver_residual": [pytest.approx(2e-3)], "solver_iterations": [pytest.approx(5.5)]}
    with pytest.raises(ValueError, match="solver_residual needs the solver statistic 'rel_residual'"):
        compute_energies(["solver_residual"], [Particle([1], "x", torch.zeros(1), torch.zeros(1))])
