import math

import numpy as np
import pytest

from attractor.stats import auroc, paired_sign_test, seed_interval, wilson_interval


def test_seed_interval_is_the_student_t_interval_worked_by_hand():
    # mean 0.6, sd 0.1, sem 0.1 / sqrt(3), t(0.975, df 2) = 4.302653
    lo, hi = seed_interval([0.5, 0.6, 0.7])
    half = 4.302653 * 0.1 / 3 ** 0.5
    assert lo == pytest.approx(0.6 - half, abs=1e-6) and hi == pytest.approx(0.6 + half, abs=1e-6)


def test_seed_interval_needs_two_seeds():
    with pytest.raises(ValueError, match="at least 2"):
        seed_interval([0.5])


def test_auroc_hand_worked_and_by_counting_pairs():
    # positives 0.35, 0.8 against negatives 0.1, 0.4: 3 of 4 pairs ordered right
    assert auroc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == pytest.approx(0.75)
    assert auroc([1.0, 1.0], [True, False]) == pytest.approx(0.5)  # a tie counts half
    assert math.isnan(auroc([1.0, 2.0], [True, True]))
    rng = np.random.default_rng(0)
    scores, labels = rng.integers(0, 5, 200).astype(float), rng.random(200) < 0.3
    pos, neg = scores[labels], scores[~labels]
    pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert auroc(scores, labels) == pytest.approx(pairs / (len(pos) * len(neg)))
    with pytest.raises(ValueError, match="3 scores but 2 labels"):
        auroc([1.0, 2.0, 3.0], [True, False])


def test_paired_sign_test_hand_case():
    a = [True, True, True, False, True]
    b = [False, False, False, False, True]
    assert paired_sign_test(a, b) == (3, 0, pytest.approx(0.25))  # 2 * (1/2)^3
    assert paired_sign_test(b, a)[:2] == (0, 3)
    assert paired_sign_test([True], [True]) == (0, 0, 1.0)


def test_wilson_hand_values():
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.7225, abs=1e-4)


def test_wilson_rejects_bad_counts():
    with pytest.raises(ValueError, match="n must be an integer not less than 1"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match="must not be greater than n"):
        wilson_interval(11, 10)
