"""Command line: ``python -m attractor.decoding {run,plot,synthetic-corpus,synthetic-eval} ...``
(see docs/decoding.md)."""
from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import yaml

from attractor.decoding.arithmetic import TEMPLATE, ArithmeticConfig, generate_problems
from attractor.decoding.config import DecodeConfig, load_config
from attractor.decoding.datasets import PromptTemplate, Problem, build_prompt, load_dataset

DATASETS = ("gsm8k", "svamp", "arithmetic")


def problems_and_prompts(args: argparse.Namespace, cfg: DecodeConfig) -> tuple[list[Problem], list[str]]:
    """The evaluation problems and their prompts; few-shot examples come from GSM8K train for the
    real datasets and from a differently seeded draw for the synthetic one."""
    if args.dataset == "arithmetic":
        arith = ArithmeticConfig(args.arith_steps, args.arith_max_value, args.arith_ops)
        problems = generate_problems(args.limit or 1000, arith, seed=args.arith_seed)
        shots = generate_problems(cfg.few_shot, arith, seed=args.arith_seed + 1) if cfg.few_shot else []
        template = TEMPLATE
    else:
        problems = load_dataset(args.dataset, args.data_path)[: args.limit]
        shots = load_dataset("gsm8k_train", args.shots_path)[: cfg.few_shot] if cfg.few_shot else []
        template = PromptTemplate()
    return problems, [build_prompt(p.question, shots, template) for p in problems]


def _overrides(pairs: Sequence[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        out[key] = yaml.safe_load(value)
    return out


def _add_arithmetic_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arith-steps", type=int, default=2)
    parser.add_argument("--arith-max-value", type=int, default=99)
    parser.add_argument("--arith-ops", default="+-")


def _add_run_options(parser: argparse.ArgumentParser, default_config: str) -> None:
    parser.add_argument("--config", default=default_config)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config options")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", required=True, help="run folder for particles.jsonl and summary.json")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m attractor.decoding", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="sample K particles per question and score every method")
    _add_run_options(run, "configs/decode/default.yaml")
    run.add_argument("--dataset", choices=DATASETS, required=True)
    run.add_argument("--data-path", help="dataset file (default: ../shared/data/...)")
    run.add_argument("--shots-path", help="GSM8K train file for few-shot examples")
    run.add_argument("--limit", type=int, help="first N problems only (arithmetic: how many to draw)")
    run.add_argument("--model-path", required=True, help="local Hugging Face model folder")
    run.add_argument("--trust-remote-code", action="store_true")
    run.add_argument("--dtype", help="e.g. bfloat16 (default: the checkpoint's)")
    _add_arithmetic_args(run)
    run.add_argument("--arith-seed", type=int, default=1000)
    plot = sub.add_parser("plot", help="figures and AUROCs of a finished run")
    plot.add_argument("run_dir")
    corpus = sub.add_parser("synthetic-corpus", help="write a training corpus and held-out problems for our own LM")
    corpus.add_argument("--out", required=True, help="folder for train.txt, heldout.jsonl, corpus.json")
    corpus.add_argument("--n-train", type=int, default=50_000)
    corpus.add_argument("--n-eval", type=int, default=1_000)
    corpus.add_argument("--train-seed", type=int, default=0)
    corpus.add_argument("--eval-seed", type=int, default=1000)
    _add_arithmetic_args(corpus)
    corpus.add_argument("--name", default="arith_lm", help="run name in the printed train.py command")
    corpus.add_argument("--train-set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="extra train.py overrides for the printed command (model size, time, ...)")
    synth = sub.add_parser("synthetic-eval", help="decode the held-out problems with an lm checkpoint of ours")
    synth.add_argument("--ckpt", required=True, help="train.py checkpoint of the lm task")
    synth.add_argument("--corpus", required=True, help="folder written by synthetic-corpus")
    synth.add_argument("--limit", type=int, help="first N held-out problems only")
    synth.add_argument("--ks", type=int, nargs="+", default=[1, 4, 8, 16], help="K values scored (<= config k)")
    _add_run_options(synth, "configs/decode/synthetic.yaml")
    args = parser.parse_args(argv)

    if args.command == "run":
        from attractor.decoding.runner import run_decoding
        from attractor.decoding.samplers import HFSampler

        cfg = load_config(args.config, **_overrides(args.set))
        problems, prompts = problems_and_prompts(args, cfg)
        sampler = HFSampler.from_path(args.model_path, cfg.hidden_module, args.trust_remote_code, args.device, args.dtype)
        summary = run_decoding(problems, prompts, sampler, cfg, args.out)
        print(json.dumps({m: round(v["accuracy"], 4) for m, v in summary["methods"].items()}, indent=2))
    elif args.command == "plot":
        from attractor.decoding.plots import plot_run
        from attractor.decoding.runner import SUMMARY_FILE, read_records

        cfg = DecodeConfig.from_mapping(json.loads((Path(args.run_dir) / SUMMARY_FILE).read_text())["config"])
        numbers = plot_run(list(read_records(args.run_dir)), cfg.weights, args.run_dir)
        print(json.dumps(numbers, indent=2, default=str))
    elif args.command == "synthetic-corpus":
        from attractor.decoding.synthetic import CorpusSpec, train_command, write_corpus

        arith = ArithmeticConfig(args.arith_steps, args.arith_max_value, args.arith_ops)
        spec = CorpusSpec(args.n_train, args.n_eval, arith, args.train_seed, args.eval_seed)
        meta = write_corpus(args.out, spec)
        print(json.dumps(meta, indent=2))
        print(train_command(args.out, meta["vocab_size"], args.name, args.train_set))
    elif args.command == "synthetic-eval":
        from attractor.decoding.synthetic_eval import evaluate

        cfg = load_config(args.config, **_overrides(args.set))
        result = evaluate(args.ckpt, args.corpus, cfg, args.out, args.limit, args.ks, args.device)
        print((Path(args.out) / "k_table.md").read_text())
        print(json.dumps({"energy_auroc": result["energy_auroc"]}, indent=2))


if __name__ == "__main__":
    main()
