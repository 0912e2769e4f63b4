"""Command line: ``python -m attractor.decoding {run,plot} ...`` (see docs/decoding.md)."""
from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from attractor.compose import group_config
from attractor.config import from_mapping
from attractor.decoding import arithmetic, config
from attractor.decoding.arithmetic import TEMPLATE, generate_problems
from attractor.decoding.config import DecodeConfig
from attractor.decoding.datasets import PromptTemplate, Problem, build_prompt, load_dataset

DATASETS = ("gsm8k", "svamp", "arithmetic")


def problems_and_prompts(args: argparse.Namespace, cfg: DecodeConfig) -> tuple[list[Problem], list[str]]:
    """The evaluation problems and their prompts; few-shot examples come from GSM8K train for the
    real datasets and from a differently seeded draw for the synthetic one."""
    if args.dataset == "arithmetic":
        arith = arithmetic.from_arguments(args)
        problems = generate_problems(args.limit or 1000, arith, seed=args.arith_seed)
        shots = generate_problems(cfg.few_shot, arith, seed=args.arith_seed + 1) if cfg.few_shot else []
        template = TEMPLATE
    else:
        problems = load_dataset(args.dataset, args.data_path)[: args.limit]
        shots = load_dataset("gsm8k_train", args.shots_path)[: cfg.few_shot] if cfg.few_shot else []
        template = PromptTemplate()
    return problems, [build_prompt(p.question, shots, template) for p in problems]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m attractor.decoding", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="sample K particles per question and score every method")
    config.add_arguments(run, "default")
    run.add_argument("--device", default="cpu")
    run.add_argument("--out", required=True, help="run folder for particles.jsonl and summary.json")
    run.add_argument("--dataset", choices=DATASETS, required=True)
    run.add_argument("--data-path", help="dataset file (default: ../shared/data/...)")
    run.add_argument("--shots-path", help="GSM8K train file for few-shot examples")
    run.add_argument("--limit", type=int, help="first N problems only (arithmetic: how many to draw)")
    run.add_argument("--model-path", required=True, help="local Hugging Face model folder")
    run.add_argument("--trust-remote-code", action="store_true")
    run.add_argument("--dtype", help="e.g. bfloat16 (default: the checkpoint's)")
    arithmetic.add_arguments(run)
    run.add_argument("--arith-seed", type=int, default=1000)
    plot = sub.add_parser("plot", help="figures and AUROCs of a finished run")
    plot.add_argument("run_dir")
    args = parser.parse_args(argv)

    if args.command == "run":
        from attractor.decoding.runner import run_decoding
        from attractor.decoding.samplers import HFSampler

        cfg = group_config(DecodeConfig, "decode", args.config, args.set)
        problems, prompts = problems_and_prompts(args, cfg)
        sampler = HFSampler.from_path(args.model_path, cfg.hidden_module, args.trust_remote_code, args.device, args.dtype)
        summary = run_decoding(problems, prompts, sampler, cfg, args.out)
        print(json.dumps({m: round(v["accuracy"], 4) for m, v in summary["methods"].items()}, indent=2))
    else:
        from attractor.decoding.plots import plot_run
        from attractor.decoding.runner import SUMMARY_FILE, read_records

        cfg = from_mapping(DecodeConfig, json.loads((Path(args.run_dir) / SUMMARY_FILE).read_text())["config"], "config")
        numbers = plot_run(list(read_records(args.run_dir)), cfg.weights, args.run_dir)
        print(json.dumps(numbers, indent=2, default=str))


if __name__ == "__main__":
    main()
