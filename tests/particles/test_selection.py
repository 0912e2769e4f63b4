import random

import pytest
import torch

from attractor.particles.selection import (
    gibbs_weights,
    lowest_energy,
    majority_vote,
    method_names,
    select_all,
    weighted_vote,
)
from attractor.particles.weights import WeightSpec, uniform


def test_weighted_vote_sums_weight_per_answer_and_skips_missing():
    assert weighted_vote(["5", "7", "7", None], [0.5, 0.2, 0.2, 0.9]) == "5"
    assert weighted_vote(["5", "7", "7"], [0.3, 0.2, 0.2]) == "7"
    assert weighted_vote([None, None], [0.5, 0.5]) is None
    with pytest.raises(ValueError, match="2 answers but 3 weights"):
        weighted_vote(["1", "2"], [1, 1, 1])


def test_majority_tie_goes_to_first_seen_answer():
    assert majority_vote(["3", "4", "4", "3", None, None, None]) == "3"
    assert majority_vote([None]) is None


def test_uniform_weights_reproduce_majority_exactly():
    rng = random.Random(0)
    for _ in range(3000):
        k = rng.randint(1, 16)
        answers = [rng.choice(["1", "2", "3", "40", None]) for _ in range(k)]
        assert weighted_vote(answers, uniform(torch.zeros(k))) == majority_vote(answers), answers


def test_lowest_energy_ignores_particles_without_answer():
    assert lowest_energy(["1", None, "3"], [0.5, 0.1, 0.2]) == "3"
    assert lowest_energy(["1", "2"], [0.5, 0.5]) == "1"
    assert lowest_energy([None], [0.0]) is None


def test_select_all_is_paired_and_named_consistently():
    weightings = [WeightSpec("inverse_power", {"p": 2.0}), WeightSpec("uniform")]
    answers = ["5", "5", "7"]
    energies = {"nll": [2.0, 2.0, 0.5], "token_entropy": [0.1, 0.1, 3.0]}
    picks = select_all(answers, energies, weightings)
    assert list(picks) == method_names(list(energies), weightings)
    assert picks["majority"] == picks["gibbs[uniform]"] == "5"
    assert picks["best_of_n[nll]"] == "7" and picks["best_of_n[token_entropy]"] == "5"
    # 1/E^2 weights on nll: [0.25, 0.25, 4] -> the lone low-energy particle outweighs the pair.
    assert picks["gibbs[nll|inverse_power(p=2.0)]"] == "7"
    w = gibbs_weights(energies, weightings, 3)["gibbs[nll|inverse_power(p=2.0)]"]
    assert w == pytest.approx([0.25 / 4.5, 0.25 / 4.5, 4 / 4.5], rel=1e-6)
