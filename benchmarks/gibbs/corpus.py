"""The synthetic-task experiment's data: a corpus to train a char-level LM of ours with ``train.py``
and held-out problems to decode (decoding them: ``evaluate``).

Held-out problems come from another seed and are deduplicated against the training questions, so
accuracy measures arithmetic the model has to carry out, not lines it has memorised. With
``n_dev`` a dev set (for choosing decoding settings) is drawn from a third seed first, and the
held-out (test) problems are deduplicated against it too: three disjoint sets of questions.
"""
from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attractor.decoding.arithmetic import TEMPLATE, ArithmeticConfig, generate_problems
from attractor.decoding.datasets import Problem
from attractor.io import write_json, write_text

TRAIN_FILE, HELDOUT_FILE, DEV_FILE, META_FILE = "train.txt", "heldout.jsonl", "dev.jsonl", "corpus.json"
SPLIT_FILES = {"test": HELDOUT_FILE, "dev": DEV_FILE}


@dataclass(frozen=True)
class CorpusSpec:
    """What :func:`write_corpus` draws."""

    n_train: int = 50_000
    n_eval: int = 1_000
    arithmetic: ArithmeticConfig = ArithmeticConfig()
    train_seed: int = 0
    eval_seed: int = 1_000
    n_dev: int = 0
    """Dev problems (0: none), drawn with ``dev_seed`` before the held-out ones."""
    dev_seed: int = 2_000

    def __post_init__(self) -> None:
        if self.n_train < 1 or self.n_eval < 1:
            raise ValueError(f"corpus: n_train and n_eval must be >= 1, got {self.n_train}, {self.n_eval}")
        if self.n_dev < 0:
            raise ValueError(f"corpus: n_dev must be >= 0, got {self.n_dev}")
        seeds = [self.train_seed, self.eval_seed] + ([self.dev_seed] if self.n_dev else [])
        if len(set(seeds)) < len(seeds):
            raise ValueError(f"corpus: train_seed, eval_seed and dev_seed must differ, got {seeds}")


def disjoint_problems(n: int, spec: CorpusSpec, seed: int, exclude: set[str]) -> list[Problem]:
    """The first ``n`` problems of ``seed`` whose question is not in ``exclude`` (drawing more
    while too many collide; the draw is a prefix of the same seeded sequence)."""
    m = n
    while True:
        kept = [p for p in generate_problems(m, spec.arithmetic, seed) if p.question not in exclude]
        if len(kept) >= n:
            return kept[:n]
        m *= 2


def heldout_problems(spec: CorpusSpec, exclude: set[str]) -> list[Problem]:
    """The first ``n_eval`` problems of the eval seed whose question is not in ``exclude``."""
    return disjoint_problems(spec.n_eval, spec, spec.eval_seed, exclude)


def _jsonl(problems: Sequence[Problem]) -> str:
    return "".join(json.dumps(dataclasses.asdict(p)) + "\n" for p in problems)


def write_corpus(out_dir: str | Path, spec: CorpusSpec) -> dict[str, Any]:
    """Write ``train.txt`` (solved problems in the prompt template's format, one after another),
    ``heldout.jsonl`` (evaluation problems) and ``corpus.json`` (the spec and the character
    vocabulary size that ``task.vocab_size`` must equal). Returns the ``corpus.json`` content."""
    out_dir = Path(out_dir)
    train = generate_problems(spec.n_train, spec.arithmetic, spec.train_seed)
    seen = {p.question for p in train}
    dev = disjoint_problems(spec.n_dev, spec, spec.dev_seed, seen) if spec.n_dev else []
    heldout = heldout_problems(spec, seen | {p.question for p in dev})
    text = "".join(TEMPLATE.shot.format(question=p.question, solution=p.solution) for p in train)
    write_text(out_dir / TRAIN_FILE, text)
    write_text(out_dir / HELDOUT_FILE, _jsonl(heldout))
    if dev:
        write_text(out_dir / DEV_FILE, _jsonl(dev))
    meta = {
        "spec": dataclasses.asdict(spec),
        "vocab_size": len(set(text)),
        "train_chars": len(text),
        "files": {"train": TRAIN_FILE, "heldout": HELDOUT_FILE} | ({"dev": DEV_FILE} if dev else {}),
    }
    write_json(out_dir / META_FILE, meta)
    return meta


def read_heldout(corpus_dir: str | Path, limit: int | None = None, split: str = "test") -> list[Problem]:
    """The held-out (``test``) or ``dev`` problems written by :func:`write_corpus` (the first
    ``limit`` of them)."""
    if split not in SPLIT_FILES:
        raise KeyError(f"split: {split!r} is not one of {', '.join(SPLIT_FILES)}")
    path = Path(corpus_dir) / SPLIT_FILES[split]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no held-out problems; write the corpus first (benchmarks/synthetic_decoding.py corpus)")
    problems = [Problem(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
    return problems[:limit]


def train_command(corpus_dir: str | Path, vocab_size: int, name: str, overrides: Sequence[str] = ()) -> str:
    """The ``train.py`` line that trains a causal char-level Transformer on the corpus with the lm
    task (``lm_smoke`` preset, resized by ``overrides``)."""
    args = [
        "python", "train.py", "experiment=lm_smoke", "model=transformer",
        f"task.data.inputs=[{Path(corpus_dir) / TRAIN_FILE}]", f"task.vocab_size={vocab_size}",
        f"name={name}", *overrides,
    ]
    return "OMP_NUM_THREADS=1 " + shlex.join(args)

