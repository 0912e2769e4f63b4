import pytest

from attractor.decoding.answers import extract_strict
from attractor.decoding.arithmetic import ArithmeticConfig, generate_problems


@pytest.mark.parametrize("cfg", [ArithmeticConfig(), ArithmeticConfig(steps=4, max_value=30, ops="+-*")])
def test_problems_are_correct_worked_and_seeded(cfg):
    problems = generate_problems(200, cfg, seed=3)
    assert problems == generate_problems(200, cfg, seed=3)
    assert problems != generate_problems(200, cfg, seed=4)
    assert len({p.question for p in problems}) == 200
    for p in problems:
        assert eval(p.question) == int(p.answer)  # the question is plain arithmetic, brackets included
        assert extract_strict(p.solution) == p.answer
        assert p.solution.count("=") == cfg.steps
        assert int(p.answer) >= 0


def test_bad_config_and_impossible_request():
    with pytest.raises(ValueError, match="arithmetic.steps"):
        ArithmeticConfig(steps=0)
    with pytest.raises(ValueError, match="arithmetic.ops"):
        ArithmeticConfig(ops="+/")
    with pytest.raises(ValueError, match="distinct"):
        generate_problems(50, ArithmeticConfig(steps=1, max_value=1, ops="+"))
