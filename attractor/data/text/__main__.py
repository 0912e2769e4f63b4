"""``python -m attractor.data.text prepare --input PATH [PATH ...] --out DIR --tokenizer char|bpe``.

See docs/lm_data.md.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from attractor.data.grid_csv import DataFormatError
from attractor.data.text.prepare import prepare


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attractor.data.text")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="tokenize text files or folders into DIR/{train,val,test}.bin + tokenizer + meta")
    p.add_argument("--input", type=Path, nargs="+", required=True, help="text files and/or folders (UTF-8)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--tokenizer", choices=("char", "bpe"), default=None,
                   help="train this kind here (required unless --tokenizer-from)")
    p.add_argument("--vocab-size", type=int, default=None, help="BPE vocabulary size (default 4096)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="fraction of chunks that go to val")
    p.add_argument("--test-fraction", type=float, default=0.1, help="fraction of chunks held out for test")
    p.add_argument("--seed", type=int, default=0, help="draws which chunks go to val and test")
    p.add_argument("--chunk-bytes", type=int, default=None,
                   help="split unit, cut at the next newline (default: corpus/100, at most 16384)")
    p.add_argument("--tokenizer-from", type=Path, default=None,
                   help="reuse a tokenizer.json, a prepared corpus folder or a local Hugging Face model folder")
    args = parser.parse_args(argv)
    if args.tokenizer is None and args.tokenizer_from is None:
        parser.error("give --tokenizer char|bpe or --tokenizer-from PATH")
    try:
        t0 = time.perf_counter()
        meta = prepare(args.input, args.out, args.tokenizer, args.vocab_size, args.val_fraction, args.seed,
                       args.tokenizer_from, args.chunk_bytes, args.test_fraction)
    except (DataFormatError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    tok = meta["tokenizer"]
    print(f"wrote {args.out}: {len(meta['files'])} files, {tok['kind']} tokenizer (vocab {tok['vocab_size']}), "
          f"{meta['tokens']['train']:,} train + {meta['tokens']['val']:,} val + {meta['tokens']['test']:,} test "
          f"{meta['dtype']} tokens "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
