"""Generation speed of the three causal LMs with and without the key/value cache: greedy tokens/s.

For transformer, looped, attractor (adaptive solver) and attractor (solver removed, ``none``), a
random prompt of 256 and of 1,024 tokens is continued greedily by ``--new-tokens`` tokens through
``NativeSampler`` (the path of ``eval.py action=sample`` and native Gibbs decoding), once with the
cache and once re-running the model on the whole context per token. Each variant is first warmed
up (``--warmup`` full generations of each kind), then repeated ``--repeats`` times, cached and
uncached interleaved within each repeat so that load from other jobs hits both alike; the **gain**
of a repeat is its uncached time over its cached time, and the figures are the median over repeats
with the spread (min, max) of the gains. ``cache`` tokens/s include the prompt's one forward (what a
user waits for); ``details`` has the prompt forward alone (a 1-token run) and the decode-only rate.
``identical``: the greedy tokens are the same with and without the cache. ``--threads`` (default 1)
sets torch's intra-op threads.

    python -m benchmarks.generation --json docs/results/generation_cpu.json
    python benchmarks/generation.py --json FILE
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import statistics
import time
from typing import Any

import torch

from attractor import build_model
from attractor.decoding.samplers import NativeSampler, SamplingParams
from benchmarks.common import emit, parser

VOCAB = 65
CONTEXTS = (256, 1024)


class _Ids:
    """Prompts are space-separated token ids."""

    def encode(self, text: str) -> list[int]:
        return [int(t) for t in text.split()]

    def decode(self, ids: list[int]) -> str:
        return " ".join(map(str, ids))


class _InMode(torch.nn.Module):
    """The model in one inference mode, as the sampler calls it; counts solver iterations."""

    def __init__(self, model: torch.nn.Module, mode: str | None):
        super().__init__()
        self.model, self.mode, self.iterations = model, mode, []

    def forward(self, tokens: torch.Tensor, cache=None):
        out = self.model(tokens, mode=self.mode, cache=cache)
        if "iterations" in out.stats:
            self.iterations.append(out.stats["iterations"].float().mean().item())
        return out

    def init_cache(self):
        return self.model.init_cache()


def model_configs(dim: int, n_heads: int, max_len: int) -> dict[str, tuple[dict[str, Any], str | None]]:
    """The models of benchmarks/lm_throughput.py (4 blocks of the same width each), long enough for
    the longest context; with the mode each is sampled in."""
    shared = dict(vocab_size=VOCAB, max_len=max_len, dim=dim, n_heads=n_heads, causal=True)
    attractor = dict(name="attractor", backbone_layers=2, f_layers=2, **shared)
    return {
        "transformer": (dict(name="transformer", n_layers=4, **shared), None),
        "looped": (dict(name="looped", prelude_layers=1, core_layers=2, loops=2, coda_layers=1, **shared), None),
        "attractor_solver": (attractor, "solver"),
        "attractor_none": (attractor, "none"),
    }


def generate(sampler: NativeSampler, prompt: str, new_tokens: int) -> tuple[list[int], float]:
    start = time.perf_counter()
    (particle,), = sampler.sample([prompt], 1, SamplingParams(temperature=0, max_new_tokens=new_tokens))
    return particle.token_ids, time.perf_counter() - start


def main() -> None:
    p = parser(__doc__.splitlines()[0], "docs/results/generation_cpu.json")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--n-heads", type=int, default=4)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1, help="full generations of each kind before timing")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--contexts", type=int, nargs="+", default=list(CONTEXTS))
    args = p.parse_args()
    if args.dtype != "float32":
        p.error("--dtype: this benchmark samples in float32 only")
    torch.set_num_threads(args.threads)
    max_len = max(args.contexts) + args.new_tokens
    figures: dict[str, Any] = {}
    details: dict[str, Any] = {}
    rows = []
    for name, (cfg, mode) in model_configs(args.dim, args.n_heads, max_len).items():
        torch.manual_seed(0)
        model = _InMode(build_model(cfg).to(args.device), mode)
        samplers = {use: NativeSampler(model, _Ids(), device=args.device, max_len=max_len, use_cache=use)
                    for use in (True, False)}
        figures[name], details[name] = {"ctx": {}}, {"ctx": {}}
        for ctx in args.contexts:
            ids = torch.randint(0, VOCAB, (ctx,), generator=torch.Generator().manual_seed(ctx))
            prompt = " ".join(map(str, ids.tolist()))
            for _ in range(args.warmup):
                generate(samplers[True], prompt, args.new_tokens)
                generate(samplers[False], prompt, args.new_tokens)
            times: dict[str, list[float]] = {"cache": [], "nocache": [], "prompt": []}
            identical = True
            for _ in range(args.repeats):  # interleaved, so load from other jobs hits all variants alike
                model.iterations = []
                cached, seconds = generate(samplers[True], prompt, args.new_tokens)
                times["cache"].append(seconds)
                iterations = list(model.iterations)
                full, seconds = generate(samplers[False], prompt, args.new_tokens)
                times["nocache"].append(seconds)
                times["prompt"].append(generate(samplers[True], prompt, 1)[1])
                identical &= cached == full
            t = {k: statistics.median(v) for k, v in times.items()}
            gains = [n / c for n, c in zip(times["nocache"], times["cache"])]
            tok_s = {k: args.new_tokens / t[k] for k in ("cache", "nocache")}
            figures[name]["ctx"][str(ctx)] = {**tok_s, "gain_median": statistics.median(gains),
                                              "gain_min": min(gains), "gain_max": max(gains), "identical": identical}
            decode_s = [c - p for c, p in zip(times["cache"], times["prompt"])]
            details[name]["ctx"][str(ctx)] = {
                "prompt_forward_s": t["prompt"],
                "cache_decode_only_tok_s": (args.new_tokens - 1) / max(statistics.median(decode_s), 1e-9),
                "cache_ms_per_token": 1e3 * statistics.median(decode_s) / (args.new_tokens - 1),
                "gains": gains, "seconds": times,
                "mean_iterations_cached_steps": statistics.mean(iterations[1:]) if len(iterations) > 1 else None,
            }
            f = figures[name]["ctx"][str(ctx)]
            rows.append([name, ctx, f"{tok_s['nocache']:.1f}", f"{tok_s['cache']:.1f}",
                         f"{f['gain_median']:.1f}x [{f['gain_min']:.1f}, {f['gain_max']:.1f}]",
                         f"{details[name]['ctx'][str(ctx)]['cache_ms_per_token']:.2f}", identical])
            print(*rows[-1], flush=True)
    figures["details"] = details
    figures["setup"] = dict(device=args.device, dim=args.dim, n_heads=args.n_heads, vocab=VOCAB,
                            new_tokens=args.new_tokens, repeats=args.repeats, warmup=args.warmup, max_len=max_len,
                            threads=torch.get_num_threads(), torch=torch.__version__,
                            configs={k: v for k, v in model_configs(args.dim, args.n_heads, max_len).items()},
                            note="random-init weights; cache tok/s include the prompt forward")
    emit(args.json, figures, rows, ["model", "ctx", "nocache tok/s", "cache tok/s", "gain [min, max]",
                                    "cache ms/token", "identical"])


if __name__ == "__main__":
    main()
