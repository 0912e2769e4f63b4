import pytest

from attractor.stats import seed_interval


def test_seed_interval_is_the_student_t_interval_worked_by_hand():
    # mean 0.6, sd 0.1, sem 0.1 / sqrt(3), t(0.975, df 2) = 4.302653
    lo, hi = seed_interval([0.5, 0.6, 0.7])
    half = 4.302653 * 0.1 / 3 ** 0.5
    assert lo == pytest.approx(0.6 - half, abs=1e-6) and hi == pytest.approx(0.6 + half, abs=1e-6)


def test_seed_interval_needs_two_seeds():
    with pytest.raises(ValueError, match="at least 2"):
        seed_interval([0.5])
