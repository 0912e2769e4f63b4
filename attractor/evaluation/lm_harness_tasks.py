"""Local harness tasks from a prepared corpus's held-out text: a LAMBADA-style last-word task, a
multiple-choice next-line task and a rolling-perplexity task, each as JSONL plus a task YAML.

    python -m attractor.evaluation.lm_harness_tasks --prepared data_cache/text/DIR --out outputs/lm_eval_tasks

The harness reads task data from the Hugging Face Hub by default; these read local files
(``dataset_path: json``), so they run offline. The YAMLs written include the package's task
definitions (``lm_tasks/*.yaml``: prompts and metrics) and add the task name and the data file.
The text is read back from the corpus's source files by the byte ranges ``meta.json`` records for
the split (checked against the recorded SHA-256), so passages never straddle two chunks that were
not adjacent in the file; nothing is copied into the repository.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from attractor.data.text.shards import read_meta
from attractor.io import write_text

DEFINITIONS = Path(__file__).resolve().parent / "lm_tasks"
KINDS = ("last_word", "choice", "rolling")
LAST_WORD = re.compile(r" ([A-Za-z']+)[^A-Za-z']*$")  # a passage that ends in a word after a space


def split_text(prepared: str | os.PathLike, split: str = "test") -> list[str]:
    """The text of ``split`` of a prepared corpus: one string per run of adjacent chunks."""
    meta = read_meta(Path(prepared))
    texts = []
    for record in meta["files"]:
        data = Path(record["path"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != record["sha256"]:
            raise ValueError(f"{record['path']} changed since {prepared} was prepared (SHA-256 differs)")
        texts.extend(data[start:end].decode("utf-8") for start, end in record[split])
    return texts


def passages(texts: list[str], min_lines: int = 3) -> list[str]:
    """Blank-line separated paragraphs (a speech of a play: the speaker's name and its lines) of at
    least ``min_lines`` lines, without the first and last of each text, which a chunk boundary may
    have cut."""
    found = []
    for text in texts:
        for p in re.split(r"\n\s*\n", text)[1:-1]:
            p = p.strip("\n")
            if p.count("\n") + 1 >= min_lines:
                found.append(p)
    return found


def last_word_docs(paragraphs: list[str]) -> list[dict[str, str]]:
    """``{"text"}`` per paragraph whose last line ends in a word after a space: the word (trailing
    punctuation dropped) is the target, the rest the context."""
    docs = []
    for p in paragraphs:
        match = LAST_WORD.search(p)
        if match:
            docs.append({"text": p[:match.end(1)]})
    return docs


def choice_docs(paragraphs: list[str], n_choices: int = 4, seed: int = 0, pool: int = 24) -> list[dict[str, Any]]:
    """``{"context", "choices", "label"}``: a paragraph but its last line, and that line among
    ``n_choices - 1`` drawn from the ``pool`` last lines of other paragraphs closest to it in length
    (so length says little about which is right), in a seeded random order."""
    rng = np.random.default_rng(seed)
    lines = [p.rsplit("\n", 1) for p in paragraphs if "\n" in p]
    docs = []
    for context, answer in lines:
        others = sorted({last for _, last in lines} - {answer}, key=lambda line: (abs(len(line) - len(answer)), line))
        if len(others) < n_choices - 1:
            continue
        near = others[:pool]
        picked = [near[j] for j in rng.choice(len(near), n_choices - 1, replace=False)]
        label = int(rng.integers(n_choices))
        docs.append({"context": context + "\n", "choices": picked[:label] + [answer] + picked[label:],
                     "label": label})
    return docs


def write_tasks(out: str | os.PathLike, docs: dict[str, list[dict[str, Any]]], prefix: str) -> dict[str, Path]:
    """``out/<prefix>_<kind>.jsonl`` and ``.yaml`` per kind in ``docs``; returns the task names' YAMLs.
    Paths in the YAMLs are absolute, so ``include_path=out`` works from any directory."""
    out = Path(out).resolve()
    written = {}
    for kind, rows in docs.items():
        if kind not in KINDS:
            raise ValueError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
        name = f"{prefix}_{kind}"
        data = out / f"{name}.jsonl"
        write_text(data, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        write_text(out / f"{name}.yaml", f"include: {DEFINITIONS / f'{kind}.yaml'}\ntask: {name}\n"
                                         f"dataset_kwargs:\n  data_files:\n    test: {data}\n")
        written[name] = out / f"{name}.yaml"
    return written


def build(prepared: str | os.PathLike, out: str | os.PathLike, prefix: str, split: str = "test",
          max_docs: int | None = None, seed: int = 0) -> dict[str, int]:
    """All three tasks from ``split`` of a prepared corpus (at most ``max_docs`` each, the first in
    text order); returns the documents per task."""
    paragraphs = passages(split_text(prepared, split))
    docs = {"last_word": last_word_docs(paragraphs), "choice": choice_docs(paragraphs, seed=seed),
            "rolling": [{"text": p} for p in paragraphs]}
    docs = {kind: rows[:max_docs] for kind, rows in docs.items()}
    write_tasks(out, docs, prefix)
    return {f"{prefix}_{kind}": len(rows) for kind, rows in docs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepared", required=True, help="a prepared corpus folder (its meta.json)")
    parser.add_argument("--out", required=True, help="folder for the JSONL files and task YAMLs")
    parser.add_argument("--prefix", default="local", help="task names: <prefix>_last_word, _choice, _rolling")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--max-docs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0, help="the distractors of the choice task")
    args = parser.parse_args()
    counts = build(args.prepared, args.out, args.prefix, args.split, args.max_docs, args.seed)
    print(", ".join(f"{name}: {n} documents" for name, n in counts.items()) + f" in {args.out}")


if __name__ == "__main__":
    main()
