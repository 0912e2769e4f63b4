"""Sudoku solver and generator: uniqueness, determinism, hard mode, no train/test leakage."""
import numpy as np

from attractor.data.leakage import find_leaks
from attractor.data.sudoku.canonical import canonical, invariant
from attractor.data.sudoku.format import givens_problem, rule_problem
from attractor.data.sudoku.generate import generate, generate_split
from attractor.data.sudoku.solver import solve


def test_solver_counts_solutions():
    empty = np.zeros(16, np.int64)
    assert solve(empty).n_solutions[0] == 2  # capped at 2
    bad = np.zeros(16, np.int64)
    bad[:2] = 1
    assert solve(bad).n_solutions[0] == 0


def test_generated_puzzles_are_unique_and_deterministic():
    a = generate(12, size=6, seed=5)
    b = generate(12, size=6, seed=5)
    c = generate(12, size=6, seed=6)
    assert np.array_equal(a.q, b.q) and not np.array_equal(a.q, c.q)
    check = solve(a.q)
    assert (check.n_solutions == 1).all() and np.array_equal(check.solution, a.a)
    assert np.array_equal(check.rating, a.rating)
    assert all(rule_problem(s) is None and givens_problem(q, s) is None for q, s in zip(a.q, a.a))


def test_blanks_mode_gives_exact_blank_count():
    gs = generate(10, size=6, seed=0, blanks=20)
    assert ((gs.q == 0).sum(1) == 20).all() and (solve(gs.q).n_solutions == 1).all()


def test_hard_mode_reaches_min_rating():
    easy = generate(8, size=9, seed=2, min_rating=0)
    hard = generate(8, size=9, seed=2, min_rating=150)
    assert (hard.rating >= 150).all() and np.median(hard.rating) > np.median(easy.rating)


def test_split_has_no_symmetric_leak():
    splits = generate_split(30, 30, size=6, seed=0, n_val=20)
    train, val, test = splits.train, splits.val, splits.test
    assert find_leaks(train.q, test.q, canonical, invariant) == []
    assert find_leaks(np.concatenate([train.q, test.q]), val.q, canonical, invariant) == []
    assert len({q.tobytes() for q in train.q}) == 30 and len(val) == 20


def test_val_leaves_train_and_test_as_they_were():
    with_val, without = generate_split(20, 10, size=6, seed=1, n_val=5), generate_split(20, 10, size=6, seed=1)
    assert without.val is None
    assert np.array_equal(with_val.train.q, without.train.q) and np.array_equal(with_val.test.q, without.test.q)
