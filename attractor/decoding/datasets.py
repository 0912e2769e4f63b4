"""GSM8K and SVAMP loaders and few-shot prompts.

The files live outside the repository (``../shared/data/`` from the repo root by default) and are
only ever read from a path.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from attractor.decoding.answers import extract_strict, normalize_number

DATA_ROOT = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
DEFAULT_PATHS = {
    "gsm8k": DATA_ROOT / "gsm8k" / "test.jsonl",
    "gsm8k_train": DATA_ROOT / "gsm8k" / "train.jsonl",
    "svamp": DATA_ROOT / "svamp" / "SVAMP.json",
}
_CALCULATOR = re.compile(r"<<[^>]*>>")


class DatasetError(ValueError):
    """A data file that cannot be read; the message names the file and line or record."""


@dataclass(frozen=True)
class Problem:
    """A question with its normalised gold answer and, when known, a worked solution."""

    id: str
    question: str
    answer: str
    solution: str = ""


@dataclass(frozen=True)
class PromptTemplate:
    """How one solved example (``shot``) and the question to answer (``query``) are written."""

    shot: str = "Question: {question}\nAnswer: {solution}\n\n"
    query: str = "Question: {question}\nAnswer:"


def load_gsm8k(path: str | Path = DEFAULT_PATHS["gsm8k"]) -> list[Problem]:
    """GSM8K JSONL (``question``, ``answer`` ending in ``#### N``); calculator marks are dropped
    from the worked solution so few-shot prompts read like plain text."""
    path = Path(path)
    problems = []
    for lineno, line in enumerate(_read(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{where}: not valid JSON ({e.msg})") from None
        question, solution = _field(row, "question", where), _field(row, "answer", where)
        answer = extract_strict(solution)
        if answer is None:
            raise DatasetError(f"{where}: field 'answer' has no '#### N' final answer")
        problems.append(Problem(f"gsm8k-{lineno}", question, answer, _CALCULATOR.sub("", solution)))
    return problems


def load_svamp(path: str | Path = DEFAULT_PATHS["svamp"]) -> list[Problem]:
    """SVAMP JSON list (``Body``, ``Question``, ``Answer``, ``Equation``); the question is the body
    followed by the question sentence, the solution the equation and its value."""
    path = Path(path)
    try:
        rows = json.loads(_read(path))
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(rows, list):
        raise DatasetError(f"{path}: expected a JSON list of problems")
    problems = []
    for i, row in enumerate(rows):
        where = f"{path} record {i}"
        body, question = _field(row, "Body", where), _field(row, "Question", where)
        answer = normalize_number(str(_field(row, "Answer", where)))
        if answer is None:
            raise DatasetError(f"{where}: field 'Answer' is not a number")
        equation = str(row.get("Equation", "")).strip()
        solution = f"{equation} = {answer}. The answer is {answer}." if equation else f"The answer is {answer}."
        problems.append(Problem(str(row.get("ID", f"svamp-{i}")), f"{body.strip()} {question.strip()}", answer, solution))
    return problems


LOADERS = {"gsm8k": load_gsm8k, "gsm8k_train": load_gsm8k, "svamp": load_svamp}


def load_dataset(name: str, path: str | Path | None = None) -> list[Problem]:
    """Load ``gsm8k`` (test), ``gsm8k_train`` or ``svamp`` from ``path`` or the default shared path."""
    if name not in LOADERS:
        raise KeyError(f"unknown dataset {name!r}; valid: {', '.join(sorted(LOADERS))}")
    return LOADERS[name](DEFAULT_PATHS[name] if path is None else path)


def build_prompt(question: str, shots: Sequence[Problem] = (), template: PromptTemplate = PromptTemplate()) -> str:
    """Few-shot prompt: each shot with its worked solution, then the question left open."""
    for shot in shots:
        if not shot.solution:
            raise ValueError(f"few-shot example {shot.id!r} has no worked solution")
    head = "".join(template.shot.format(question=s.question, solution=s.solution) for s in shots)
    return head + template.query.format(question=question)


def _read(path: Path) -> str:
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    return path.read_text(encoding="utf-8")


def _field(row: object, key: str, where: str) -> str:
    if not isinstance(row, dict) or key not in row:
        raise DatasetError(f"{where}: missing field {key!r}")
    return row[key]
