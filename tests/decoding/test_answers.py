import json

import pytest

from attractor.decoding.answers import extract_answer, extract_flexible, extract_strict, normalize_number
from attractor.decoding.datasets import DEFAULT_PATHS

GSM8K_TRAIN = DEFAULT_PATHS["gsm8k_train"]


@pytest.mark.parametrize(
    "raw, expected",
    [("5.0", "5"), ("$1,000", "1000"), ("18.", "18"), ("2.50", "2.5"), ("-0", "0"), (" -3 ", "-3"), ("abc", None)],
)
def test_normalize_number(raw, expected):
    assert normalize_number(raw) == expected


@pytest.mark.skipif(not GSM8K_TRAIN.is_file(), reason="shared GSM8K data not present")
def test_real_gsm8k_answers_extract_to_the_final_number():
    lines = GSM8K_TRAIN.read_text().splitlines()[:200]
    for line in lines:
        answer = json.loads(line)["answer"]
        final = answer.rsplit("####", 1)[1].strip().replace(",", "")
        assert extract_strict(answer) == normalize_number(final)
        assert extract_flexible(answer) == extract_strict(answer), answer


def test_strict_markers_on_hand_written_completions():
    assert extract_strict("She pays 3 * 4 = 12 dollars.\n#### 12") == "12"
    assert extract_strict("So 1,200 + 34 = 1,234. The answer is $1,234.") == "1234"
    assert extract_strict("the answer is: 7.50.") == "7.5"
    assert extract_strict("She has 5 apples left.") is None
    # The first marker wins: a model that goes on to a new question keeps its own answer.
    assert extract_strict("#### 4\nQuestion: 9 cats? #### 9") == "4"


def test_flexible_takes_last_number_and_modes():
    text = "He had 20 marbles, lost 3, so he has 17 marbles."
    assert extract_flexible(text) == "17"
    assert extract_flexible("no digits here") is None
    assert extract_answer(text, "strict") is None
    assert extract_answer(text, "strict_then_flexible") == "17"
    assert extract_answer("#### 2 and then 99", "strict_then_flexible") == "2"
    assert extract_answer("#### 2 and then 99", "flexible") == "99"
    with pytest.raises(ValueError, match="valid: strict, flexible, strict_then_flexible"):
        extract_answer(text, "lenient")
