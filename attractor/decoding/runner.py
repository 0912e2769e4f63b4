"""Run problems through a sampler with K particles and score every method on the same particles.

Writes ``particles.jsonl`` (one record per question: every particle's text, answer, energies and
each Gibbs method's weights) and ``summary.json`` (accuracy per method with Wilson 95% intervals,
K, tokens, timings), each atomically (temporary file, then rename).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from attractor.decoding.answers import extract_answer
from attractor.decoding.config import DecodeConfig
from attractor.decoding.datasets import Problem
from attractor.decoding.energies import compute_energies
from attractor.particles.energies import lowest_window_confidence
from attractor.decoding.particle import Particle
from attractor.decoding.samplers import Sampler
from attractor.particles.selection import gibbs_weights, method_names, select_all
from attractor.io import atomic_path, write_json
from attractor.stats import wilson_interval

RECORDS_FILE, SUMMARY_FILE = "particles.jsonl", "summary.json"


def score_question(problem: Problem, particles: Sequence[Particle], cfg: DecodeConfig) -> dict[str, Any]:
    """One question's record: answers, energies, weights and every method's pick, paired."""
    answers = [extract_answer(p.text, cfg.extraction) for p in particles]
    energies = compute_energies(cfg.energies, particles)
    weights = gibbs_weights(energies, cfg.weights, len(particles))
    confidences = particle_confidences(particles, cfg.confidence_window)
    picks = select_all(answers, energies, cfg.weights, confidences)
    return {
        "id": problem.id,
        "question": problem.question,
        "gold": problem.answer,
        "particles": [
            {
                "text": p.text,
                "answer": a,
                "correct": a == problem.answer,
                "n_tokens": p.n_tokens,
                "energies": {name: values[i] for name, values in energies.items()},
            }
            | ({} if confidences is None else {"confidence": confidences[i]})
            for i, (p, a) in enumerate(zip(particles, answers))
        ],
        "weights": weights,
        "predictions": picks,
        "correct": {m: a == problem.answer for m, a in picks.items()}
        | {"pass@k": any(a == problem.answer for a in answers)},
    }


def particle_confidences(particles: Sequence[Particle], window: int) -> list[float] | None:
    """Each particle's DeepConf lowest-window confidence, or None when the sampler gave none."""
    if any(p.confidences is None for p in particles):
        return None
    return [lowest_window_confidence(p.confidences, window) for p in particles]


def summarize(records: Sequence[dict[str, Any]], methods: Sequence[str]) -> dict[str, Any]:
    """Accuracy and Wilson 95% interval of each method over the records."""
    n = len(records)
    if n == 0:
        raise ValueError("summarize: no records")
    out = {}
    for m in methods:
        correct = sum(r["correct"][m] for r in records)
        lo, hi = wilson_interval(correct, n)
        out[m] = {"correct": correct, "n": n, "accuracy": correct / n, "ci95": [lo, hi]}
    return out


def run_decoding(
    problems: Sequence[Problem], prompts: Sequence[str], sampler: Sampler, cfg: DecodeConfig, out_dir: str | Path
) -> dict[str, Any]:
    """Sample, score and write one run; returns the summary that was written."""
    if len(problems) != len(prompts):
        raise ValueError(f"run_decoding: {len(problems)} problems but {len(prompts)} prompts")
    if not problems:
        raise ValueError("run_decoding: no problems")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    params = cfg.sampling()
    greedy_params = dataclasses.replace(params, temperature=0.0)
    records, tokens, gen_s, score_s = [], 0, 0.0, 0.0
    start = time.perf_counter()
    with _atomic_lines(out_dir / RECORDS_FILE) as write:
        for lo in range(0, len(problems), cfg.questions_per_batch):
            batch, batch_prompts = problems[lo : lo + cfg.questions_per_batch], prompts[lo : lo + cfg.questions_per_batch]
            t0 = time.perf_counter()
            clouds = sampler.sample(batch_prompts, cfg.k, params)
            greedy = sampler.sample(batch_prompts, 1, greedy_params) if cfg.greedy else [None] * len(batch)
            t1 = time.perf_counter()
            batch_records = [score_question(p, c, cfg) for p, c in zip(batch, clouds)]
            score_s += time.perf_counter() - t1
            gen_s += t1 - t0
            for record, cloud, g in zip(batch_records, clouds, greedy):
                tokens += sum(p.n_tokens for p in cloud)
                if g is not None:
                    tokens += g[0].n_tokens
                    answer = extract_answer(g[0].text, cfg.extraction)
                    record["greedy"] = {"text": g[0].text, "answer": answer, "n_tokens": g[0].n_tokens}
                    record["predictions"]["greedy"] = answer
                    record["correct"]["greedy"] = answer == record["gold"]
                write(json.dumps(record))
            records += batch_records
    has_confidence = "deepconf" in records[0]["predictions"]
    methods = (["greedy"] if cfg.greedy else []) + method_names(cfg.energies, cfg.weights, has_confidence) + ["pass@k"]
    summary = {
        "k": cfg.k,
        "n_questions": len(records),
        "methods": summarize(records, methods),
        "tokens_generated": tokens,
        "wall_s": time.perf_counter() - start,
        "generation_s": gen_s,
        "scoring_s": score_s,
        "energy_overhead_fraction": score_s / gen_s if gen_s > 0 else None,
        "config": cfg.to_dict(),
    }
    write_json(out_dir / SUMMARY_FILE, summary)
    return summary


@contextlib.contextmanager
def _atomic_lines(path: Path) -> Iterator[Callable[[str], Any]]:
    """Yield a line writer; the file appears under its name only once everything is written."""
    with atomic_path(path) as tmp, tmp.open("w") as fh:
        yield lambda line: fh.write(line + "\n")


def read_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """The per-question records of a run (a run folder or its JSONL file)."""
    path = Path(path)
    path = path / RECORDS_FILE if path.is_dir() else path
    with path.open() as fh:
        for lineno, line in enumerate(fh, start=1):
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
