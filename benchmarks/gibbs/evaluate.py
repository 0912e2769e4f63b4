"""The synthetic-task experiment's evaluation: Gibbs-basin decoding of an lm checkpoint trained on
the synthetic corpus, every method scored at each K on the same particles, with paired tests.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from attractor.decoding.analysis import correct_vs_k
from attractor.decoding.answers import extract_answer
from attractor.decoding.arithmetic import TEMPLATE
from attractor.decoding.config import DecodeConfig
from attractor.decoding.datasets import build_prompt
from attractor.decoding.plots import plot_run
from attractor.decoding.runner import read_records, run_decoding
from attractor.decoding.samplers import HFSampler, NativeSampler, SamplingParams
from attractor.evaluation.lm import load_lm
from attractor.io import write_json, write_text
from attractor.particles.weights import WeightSpec
from attractor.stats import paired_sign_test, wilson_interval
from benchmarks.gibbs.corpus import read_heldout


def native_sampler(ckpt: str | Path, hidden_module: str | None = None, device: str = "cpu") -> NativeSampler:
    """A sampler over an lm checkpoint (loaded weights-only) with its corpus's char tokenizer.

    A newline ends a trajectory: in the corpus every solution is one line, so the newline after
    ``#### N`` is the end-of-answer token the char vocabulary otherwise lacks.
    """
    _, model, tokenizer = load_lm(ckpt)
    if tokenizer.kind != "char":
        raise ValueError(f"{ckpt}: expected a char-level tokenizer, got {tokenizer.kind!r}")
    (eos_id,) = tokenizer.encode("\n").tolist()
    as_lists = SimpleNamespace(encode=lambda text: tokenizer.encode(text).tolist(), decode=tokenizer.decode)
    return NativeSampler(model, as_lists, eos_id=eos_id, hidden_module=hidden_module, device=device,
                         max_len=model.cfg.max_len)


def k_table(records: Sequence[dict[str, Any]], ks: Sequence[int], weightings: Sequence[WeightSpec],
            baseline: str = "majority") -> dict[str, dict[int, dict[str, Any]]]:
    """Per method and K (first K particles of the same clouds): correct, accuracy, Wilson 95%
    interval, and the paired sign test against ``baseline`` at the same K."""
    table: dict[str, dict[int, dict[str, Any]]] = {}
    for k, rows in correct_vs_k(records, ks, weightings).items():
        base = [row[baseline] for row in rows]
        for m in rows[0]:
            hits = [row[m] for row in rows]
            wins, losses, p = paired_sign_test(hits, base)
            table.setdefault(m, {})[k] = {
                "correct": sum(hits), "n": len(hits), "accuracy": sum(hits) / len(hits),
                "ci95": list(wilson_interval(sum(hits), len(hits))),
                f"vs_{baseline}": {"wins": wins, "losses": losses, "p": p},
            }
    return table


def markdown_tables(table: dict[str, dict[int, dict[str, Any]]], baseline: str = "majority") -> str:
    """Two Markdown tables: accuracy with 95% CI per K, and the paired difference from ``baseline``."""
    ks = sorted(next(iter(table.values())))
    head = "| method | " + " | ".join(f"K={k}" for k in ks) + " |\n|---|" + "---|" * len(ks) + "\n"
    acc, diff = head, head
    for m, row in table.items():
        name = m.replace("|", "\\|")  # method names such as gibbs[nll|boltzmann(...)] hold a pipe
        acc += f"| {name} | " + " | ".join(
            "{:.1f} [{:.1f}, {:.1f}]".format(100 * row[k]["accuracy"], *(100 * x for x in row[k]["ci95"])) for k in ks
        ) + " |\n"
        if m != baseline:
            cells = []
            for k in ks:
                t = row[k][f"vs_{baseline}"]
                cells.append(f"{100 * (t['wins'] - t['losses']) / row[k]['n']:+.1f} ({t['wins']}/{t['losses']}, p={t['p']:.2g})")
            diff += f"| {name} | " + " | ".join(cells) + " |\n"
    return (f"Accuracy, % [Wilson 95% CI]\n\n{acc}\nPaired difference from {baseline}, points "
            f"(questions only this method gets right / only {baseline} gets right, exact sign-test p)\n\n{diff}")


def decode_split(ckpt: str | Path, corpus_dir: str | Path, cfg: DecodeConfig, out_dir: str | Path,
                 limit: int | None = None, device: str = "cpu", split: str = "test") -> dict[str, Any]:
    """Decode the corpus's ``test`` (held-out) or ``dev`` problems with the checkpoint (the first
    ``limit`` of them), K particles each plus greedy; writes the run folder, returns its summary."""
    problems = read_heldout(corpus_dir, limit, split)
    prompts = [build_prompt(p.question, (), TEMPLATE) for p in problems]
    return run_decoding(problems, prompts, native_sampler(ckpt, cfg.hidden_module, device), cfg, out_dir)


def greedy_accuracy(ckpt: str | Path, corpus_dir: str | Path, cfg: DecodeConfig, split: str = "dev",
                    device: str = "cpu") -> float:
    """Fraction of the split's problems the checkpoint answers right greedily: one trajectory per
    problem, no particles or energies, with ``cfg``'s limits, extraction and batches, as
    ``decode_split``'s greedy pass (so both give the same answers)."""
    problems = read_heldout(corpus_dir, split=split)
    prompts = [build_prompt(p.question, (), TEMPLATE) for p in problems]
    sampler = native_sampler(ckpt, None, device)
    params = dataclasses.replace(cfg.sampling(), temperature=0.0)
    step, correct = cfg.questions_per_batch, 0
    for lo in range(0, len(problems), step):
        clouds = sampler.sample(prompts[lo : lo + step], 1, params)
        correct += sum(extract_answer(g.text, cfg.extraction) == p.answer for p, (g,) in zip(problems[lo : lo + step], clouds))
    return correct / len(problems)


def evaluate(ckpt: str | Path, corpus_dir: str | Path, cfg: DecodeConfig, out_dir: str | Path,
             limit: int | None = None, ks: Sequence[int] = (1, 4, 8, 16), device: str = "cpu") -> dict[str, Any]:
    """Decode the held-out problems with K = max(ks) particles each, then score every method at each
    K on the first K particles (paired); writes the run, its plots, ``k_table.json`` and ``k_table.md``."""
    if max(ks) > cfg.k:
        raise ValueError(f"ks go up to {max(ks)} but the config samples k={cfg.k} particles")
    summary = decode_split(ckpt, corpus_dir, cfg, out_dir, limit, device)
    records = list(read_records(out_dir))
    figures = plot_run(records, cfg.weights, out_dir)
    table = k_table(records, ks, cfg.weights)
    write_json(Path(out_dir) / "k_table.json", table)
    write_text(Path(out_dir) / "k_table.md", markdown_tables(table))
    return {"summary": summary, "energy_auroc": figures["energy_auroc"], "k_table": table}


def hf_greedy_agreement(ckpt: str | Path, records: Sequence[dict[str, Any]], hf_dir: Path,
                        max_new_tokens: int) -> dict[str, Any]:
    """Export an lm checkpoint as a transformers Llama under ``hf_dir`` and decode ``records``'
    questions greedily through ``HFSampler``: the fraction whose answer (and text) equals the native
    greedy one stored in each record, written to ``hf_dir/agreement.json``."""
    from attractor.llama import export_llama

    _, net, tokenizer = load_lm(ckpt)
    export_llama(net, hf_dir / "llama", tokenizer)
    sampler = HFSampler.from_path(hf_dir / "llama")
    (newline,) = tokenizer.encode("\n").tolist()
    sampler.model.generation_config.eos_token_id = newline  # as the native sampler: a newline ends the answer
    sampler.eos_ids = {newline}
    sampler.tokenizer.pad_token = "\n"
    prompts = [build_prompt(r["question"], (), TEMPLATE) for r in records]
    by_length: dict[int, list[int]] = {}  # equal-length prompts batch without padding
    for i, prompt in enumerate(prompts):
        by_length.setdefault(len(prompt), []).append(i)
    texts: list[str] = [""] * len(prompts)
    params = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens)
    start = time.perf_counter()
    for group in by_length.values():
        for i, (particle,) in zip(group, sampler.sample([prompts[i] for i in group], 1, params)):
            texts[i] = particle.text
    answers = [extract_answer(t, "strict") for t in texts]
    same_answer = [a == r["greedy"]["answer"] for a, r in zip(answers, records)]
    same_text = [t.strip() == r["greedy"]["text"].strip() for t, r in zip(texts, records)]
    out = {"n": len(records), "answer_agreement": sum(same_answer) / len(records),
           "text_agreement": sum(same_text) / len(records),
           "hf_greedy_accuracy": sum(a == r["gold"] for a, r in zip(answers, records)) / len(records),
           "seconds": time.perf_counter() - start}
    write_json(hf_dir / "agreement.json", out)
    return out
