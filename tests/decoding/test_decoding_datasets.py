import json

import pytest

from attractor.decoding.datasets import (
    DEFAULT_PATHS,
    DatasetError,
    Problem,
    PromptTemplate,
    build_prompt,
    load_dataset,
    load_gsm8k,
    load_svamp,
)

needs = lambda key: pytest.mark.skipif(not DEFAULT_PATHS[key].is_file(), reason=f"shared {key} data not present")


@needs("gsm8k")
def test_gsm8k_test_split_loads_with_answers_and_clean_solutions():
    problems = load_dataset("gsm8k")
    assert len(problems) == 1319
    first = problems[0]
    assert first.answer == "18" and first.question.startswith("Janet")
    assert "<<" not in first.solution and first.solution.endswith("#### 18")


@needs("svamp")
def test_svamp_loads_body_and_question():
    problems = load_svamp()
    assert len(problems) == 1000
    assert problems[0].id == "chal-1" and problems[0].answer == "51"
    assert problems[0].question.endswith("How much do you have to pay to buy each pack?")
    assert problems[0].solution.endswith("The answer is 51.")


def test_errors_name_file_and_line(tmp_path):
    good = json.dumps({"question": "q", "answer": "x #### 3"})
    path = tmp_path / "g.jsonl"
    path.write_text(good + "\n{oops\n")
    with pytest.raises(DatasetError, match=r"g\.jsonl:2: not valid JSON"):
        load_gsm8k(path)
    path.write_text(good + "\n" + json.dumps({"question": "q"}) + "\n")
    with pytest.raises(DatasetError, match=r"g\.jsonl:2: missing field 'answer'"):
        load_gsm8k(path)
    path.write_text(json.dumps({"question": "q", "answer": "no final"}) + "\n")
    with pytest.raises(DatasetError, match=r"g\.jsonl:1: .*#### N"):
        load_gsm8k(path)
    with pytest.raises(DatasetError, match="file not found"):
        load_gsm8k(tmp_path / "missing.jsonl")
    svamp = tmp_path / "s.json"
    svamp.write_text(json.dumps([{"Body": "b", "Question": "q", "Answer": 2.0}, {"Body": "b", "Answer": 1}]))
    with pytest.raises(DatasetError, match=r"s\.json record 1: missing field 'Question'"):
        load_svamp(svamp)
    with pytest.raises(KeyError, match="valid: gsm8k, gsm8k_train, svamp"):
        load_dataset("math")


def test_few_shot_prompt():
    shots = [Problem("a", "1+1?", "2", "1+1=2. #### 2")]
    prompt = build_prompt("2+3?", shots, PromptTemplate())
    assert prompt == "Question: 1+1?\nAnswer: 1+1=2. #### 2\n\nQuestion: 2+3?\nAnswer:"
    assert build_prompt("2+3?") == "Question: 2+3?\nAnswer:"
    with pytest.raises(ValueError, match="no worked solution"):
        build_prompt("x", [Problem("b", "q", "1")])
