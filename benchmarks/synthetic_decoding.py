"""The synthetic-task experiment (docs/decoding.md): a corpus for a char-level LM of ours, then
Gibbs-basin decoding of its held-out problems with a checkpoint trained on it, scored per K.

    python benchmarks/synthetic_decoding.py corpus --out data_cache/arith3 --n-train 50000 --n-eval 2000 \\
        --arith-steps 3 --name arith3_lm --train-set model.dim=128 task.seq_len=128 train.max_time_s=660
    # ... run the train.py line it prints, then:
    OMP_NUM_THREADS=1 python benchmarks/synthetic_decoding.py eval --ckpt outputs/arith3_lm/checkpoints/last.ckpt \\
        --corpus data_cache/arith3 --limit 600 --out runs/arith3

``corpus`` prints corpus.json and the train.py command; ``eval`` writes the decoding run, its plots,
``k_table.json`` and ``k_table.md`` (``benchmarks.gibbs.evaluate``).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/X.py`: put the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attractor.compose import group_config  # noqa: E402
from attractor.decoding import arithmetic, config  # noqa: E402
from attractor.decoding.config import DecodeConfig  # noqa: E402


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    corpus = sub.add_parser("corpus", help="write a training corpus and held-out problems for our own LM")
    corpus.add_argument("--out", required=True, help="folder for train.txt, heldout.jsonl, corpus.json")
    corpus.add_argument("--n-train", type=int, default=50_000)
    corpus.add_argument("--n-eval", type=int, default=1_000)
    corpus.add_argument("--train-seed", type=int, default=0)
    corpus.add_argument("--eval-seed", type=int, default=1000)
    arithmetic.add_arguments(corpus)
    corpus.add_argument("--name", default="arith_lm", help="run name in the printed train.py command")
    corpus.add_argument("--train-set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="extra train.py overrides for the printed command (model size, time, ...)")
    decode = sub.add_parser("eval", help="decode the held-out problems with an lm checkpoint of ours")
    decode.add_argument("--ckpt", required=True, help="train.py checkpoint of the lm task")
    decode.add_argument("--corpus", required=True, help="folder written by the corpus command")
    decode.add_argument("--limit", type=int, help="first N held-out problems only")
    decode.add_argument("--ks", type=int, nargs="+", default=[1, 4, 8, 16], help="K values scored (<= config k)")
    config.add_arguments(decode, "synthetic")
    decode.add_argument("--device", default="cpu")
    decode.add_argument("--out", required=True, help="run folder for particles.jsonl, summary.json and k_table.*")
    args = parser.parse_args(argv)

    if args.command == "corpus":
        from benchmarks.gibbs.corpus import CorpusSpec, train_command, write_corpus

        spec = CorpusSpec(args.n_train, args.n_eval, arithmetic.from_arguments(args), args.train_seed, args.eval_seed)
        meta = write_corpus(args.out, spec)
        print(json.dumps(meta, indent=2))
        print(train_command(args.out, meta["vocab_size"], args.name, args.train_set))
    else:
        from benchmarks.gibbs.evaluate import evaluate

        cfg = group_config(DecodeConfig, "decode", args.config, args.set)
        result = evaluate(args.ckpt, args.corpus, cfg, args.out, args.limit, args.ks, args.device)
        print((Path(args.out) / "k_table.md").read_text())
        print(json.dumps({"energy_auroc": result["energy_auroc"]}, indent=2))


if __name__ == "__main__":
    main()
