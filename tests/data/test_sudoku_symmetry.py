"""Sudoku augmentation, canonical form and the leakage check."""
import numpy as np
import pytest

from attractor.data.leakage import find_leaks
from attractor.data.sudoku.augment import random_transform
from attractor.data.sudoku.canonical import canonical, invariant
from attractor.data.sudoku.dataset import augment_tokens
from attractor.data.sudoku.format import givens_problem, rule_problem
from attractor.data.sudoku.generate import generate


@pytest.mark.parametrize("size", [4, 6, 9])
def test_transform_keeps_solution_valid_and_inverts(size):
    gs = generate(3, size=size, seed=1, blanks=size)
    rng = np.random.default_rng(0)
    for q, a in zip(gs.q, gs.a):
        for _ in range(20):
            t = random_transform(size, rng)
            tq, ta = t.apply(q), t.apply(a)
            assert rule_problem(ta) is None and givens_problem(tq, ta) is None
            assert (tq == 0).sum() == (q == 0).sum()
            assert np.array_equal(t.inverse().apply(ta), a) and np.array_equal(t.inverse().apply(tq), q)


def test_token_augmentation_keeps_pad_and_blank():
    gs = generate(2, size=6, seed=0, blanks=10)
    x, y = gs.tokens()
    tx, ty = augment_tokens(x[0], y[0], np.random.default_rng(3))
    assert sorted(tx.tolist()).count(1) == 10 and set(ty.tolist()) == set(range(2, 8))
    assert rule_problem(ty - 1) is None and givens_problem(tx - 1, ty - 1) is None


def test_canonical_form_is_shared_by_variants_only():
    gs = generate(3, size=6, seed=4)
    rng = np.random.default_rng(1)
    variant = random_transform(6, rng).apply(gs.q[0])
    assert canonical(variant) == canonical(gs.q[0]) and invariant(variant) == invariant(gs.q[0])
    assert canonical(gs.q[1]) != canonical(gs.q[0])


def test_leakage_finds_planted_variant_9x9():
    train = generate(6, size=9, seed=0, min_rating=0)
    test = generate(4, size=9, seed=1, min_rating=0)
    planted = random_transform(9, np.random.default_rng(7)).apply(train.q[3])
    test_q = np.concatenate([test.q, planted[None]])
    assert find_leaks(train.q, test_q, canonical, invariant) == [(4, 3)]
