"""GPU training throughput of the two GPU presets: tokens/s and MFU in bf16, eager and compiled, and the
solver's overhead ratio there; writes a results page. One command, sized to run in under 8 minutes.

For each experiment (``--experiments``; default ``lm_gpu_ref`` and ``sudoku_extreme_trm_deq``) the
preset's model and solver are built as ``train.py experiment=NAME`` composes them, and a training step
(forward, cross-entropy, backward, AdamW; bf16 autocast on CUDA) runs on random tokens of the
preset's shape (batch x sequence, vocabulary): throughput does not depend on the text or boards,
only the adaptive solve's iteration count does, and that is reported. The puzzle preset's step is one
supervision segment (its T cycles, each a solve), not the 16 ACT segments of a real step.

- ``eager`` and ``compiled`` (``train.compile=true``: every block compiled) steps alternate, so a
  thermal or clock change hits both; medians over ``--steps`` after ``--warmup`` (compilation).
- MFU: the step's FLOPs (``FlopCounterMode``, one counted eager step) / step time / ``--peak-tflops``
  (H100 SXM dense bf16: 989).
- Overhead ratio of the attractor's solve (``benchmarks/time_split.py``, with a device sync around
  each timed part): forward-solve time / (evaluations x one f evaluation). trm_deq has no
  ``attractor_map``: its ratio is not measured here.

On a CPU (``--tiny``: ``debug=tiny`` sizes, a short sequence, float32, no compile) the same code
path runs in seconds: the dry run the tests make.

    python -m benchmarks.gpu_throughput --page docs/results/gpu_throughput.md --json docs/results/gpu_throughput.json
    python benchmarks/gpu_throughput.py --tiny --json /tmp/g.json --page /tmp/g.md
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import datetime
import platform
import statistics
import subprocess
import time
from contextlib import nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from attractor.compose import compose
from attractor.models import Attractor, build_model
from attractor.tasks.config import validate_run
from attractor.tasks.harness import compile_blocks
from attractor.io import write_json
from benchmarks.common import parser
from benchmarks.time_split import no_sync, split_steps

EXPERIMENTS = ("lm_gpu_ref", "sudoku_extreme_trm_deq")


def build(experiment: str, tiny: bool) -> tuple[dict[str, Any], int, int, int]:
    """The preset's validated model config (``debug=tiny`` shrunk with ``tiny``) and its batch,
    sequence length and vocabulary."""
    run = validate_run(compose([f"experiment={experiment}", *(["debug=tiny"] if tiny else [])]))
    seq_len = min(run.task.seq_len, 64) if tiny else run.task.seq_len
    batch = min(run.task.batch_size, 4) if tiny else run.task.batch_size
    return run.model, batch, seq_len, run.task.vocab_size


class Stepper:
    def __init__(self, cfg, device: str, compiled: bool, bf16: bool):
        torch.manual_seed(0)
        self.model = build_model(cfg).to(device).train()
        if compiled:
            compile_blocks(self.model)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4, fused=device == "cuda")
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else nullcontext()

    def __call__(self, tokens: torch.Tensor) -> dict[str, float]:
        with self.autocast:
            out = self.model(tokens[:, :-1])
            loss = F.cross_entropy(out.logits.flatten(0, 1).float(), tokens[:, 1:].flatten())
            if out.aux_loss is not None:
                loss = loss + out.aux_loss
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"iterations": float(out.stats["iterations"].float().mean()) if "iterations" in out.stats else 0.0}


def timed(step: Stepper, tokens: torch.Tensor, sync) -> tuple[float, float]:
    sync()
    start = time.perf_counter()
    info = step(tokens)
    sync()
    return time.perf_counter() - start, info["iterations"]


def measure(experiment: str, args) -> dict[str, Any]:
    cfg, batch, seq_len, vocab = build(experiment, args.tiny)
    cuda = args.device == "cuda"
    sync = torch.cuda.synchronize if cuda else no_sync
    tokens = torch.randint(0, vocab, (batch, seq_len + 1), generator=torch.Generator().manual_seed(0)).to(args.device)
    kinds = ("eager", "compiled") if cuda or args.compile_on_cpu else ("eager",)
    steppers = {kind: Stepper(cfg, args.device, kind == "compiled", cuda) for kind in kinds}
    counter = FlopCounterMode(display=False)
    with counter:
        steppers["eager"](tokens)
    flops = counter.get_total_flops()
    warm = {kind: sum(timed(s, tokens, sync)[0] for _ in range(args.warmup)) for kind, s in steppers.items()}
    seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
    iterations: list[float] = []
    for _ in range(args.steps):
        for kind, s in steppers.items():
            t, its = timed(s, tokens, sync)
            seconds[kind].append(t)
            iterations.append(its)
    out: dict[str, Any] = {"parameters": sum(p.numel() for p in steppers["eager"].model.parameters()),
                           "batch": batch, "seq_len": seq_len, "flops_per_step": flops,
                           "mean_iterations": statistics.mean(iterations)}
    for kind in kinds:
        step_s = statistics.median(seconds[kind])
        out[kind] = {"step_s": step_s, "tokens_per_s": batch * seq_len / step_s, "warmup_s": warm[kind],
                     "mfu": flops / step_s / (args.peak_tflops * 1e12) if cuda else None}
    model = steppers["eager"].model
    if isinstance(model, Attractor):
        eager = steppers["eager"]
        with eager.autocast:
            split = split_steps(model, eager.opt, lambda i: (tokens[:, :-1], tokens[:, 1:]), 1, args.split_steps,
                                args.f_repeats, sync)
        out["overhead_ratio"] = split["overhead_ratio"]
        out["time_split"] = split
    return out


def page(figures: dict[str, Any], args, command: str) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    device = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu"
    lines = ["# GPU training throughput: tokens/s, MFU (bf16, eager and compiled), solver overhead", "",
             f"Command: `{command}`  ", f"Commit: `{commit}`; machine: {device}; torch {torch.__version__}; "
             f"date {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}.  ",
             "Random tokens of each preset's shape; medians over interleaved steps; MFU = counted FLOPs / step "
             f"time / {args.peak_tflops:g} TFLOP/s.", "",
             "| experiment | params | batch x seq | iterations | kind | step s | tokens/s | MFU | overhead ratio |",
             "| --- | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    for name, f in figures.items():
        if name == "setup":
            continue
        for kind in ("eager", "compiled"):
            if kind not in f:
                continue
            k = f[kind]
            mfu = "n/a" if k["mfu"] is None else f"{100 * k['mfu']:.1f}%"
            ratio = f.get("overhead_ratio")
            lines.append(f"| {name} | {f['parameters']:,} | {f['batch']} x {f['seq_len']} | {f['mean_iterations']:.1f} "
                         f"| {kind} | {k['step_s']:.3f} | {k['tokens_per_s']:,.0f} | {mfu} | "
                         f"{'n/a' if ratio is None else f'{ratio:.2f}'} |")
    if args.tiny:
        lines += ["", "**Dry run** (`--tiny`): debug sizes on this machine; not a GPU measurement."]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = parser(__doc__.splitlines()[0], "docs/results/gpu_throughput.json")
    p.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS))
    p.add_argument("--page", type=Path, default=Path("docs/results/gpu_throughput.md"))
    p.add_argument("--tiny", action="store_true", help="debug=tiny sizes: a CPU dry run")
    p.add_argument("--compile-on-cpu", action="store_true", help="also time compiled steps on a CPU")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--split-steps", type=int, default=3)
    p.add_argument("--f-repeats", type=int, default=5)
    p.add_argument("--peak-tflops", type=float, default=989.0)
    args = p.parse_args()
    command = "python -m benchmarks.gpu_throughput " + " ".join(sys.argv[1:])
    figures: dict[str, Any] = {}
    for name in args.experiments:
        figures[name] = measure(name, args)
        print(name, {k: v for k, v in figures[name].items() if k != "time_split"}, flush=True)
    figures["setup"] = {"device": args.device, "torch": torch.__version__, "tiny": args.tiny, "command": command,
                        "peak_tflops": args.peak_tflops}
    write_json(args.json, figures)
    args.page.parent.mkdir(parents=True, exist_ok=True)
    args.page.write_text(page(figures, args, command))
    print(f"wrote {args.json} and {args.page}")


if __name__ == "__main__":
    main()
