"""The looped baseline: prelude, a weight-tied core applied L times with input injection, coda.

Gradients by full backprop-through-time, or through the last ``grad_loops`` loops only (the earlier
loops then run without a graph). ``mode='iters=N'`` changes the loop count at inference, so the
same depth sweep as the attractor's can be run; ``mode='none'`` skips the core entirely.
"""
from __future__ import annotations

import torch

from attractor.models.base import SequenceModel
from attractor.models.cache import DecodeCache
from attractor.models.config import LoopedConfig, parse_inference_mode
from attractor.models.output import ModelOutput
from attractor.nn import BlockStack


class Looped(SequenceModel):
    carries_state = True  # a segment applies `loops` more loops to the carried state

    def __init__(self, cfg: LoopedConfig):
        super().__init__(cfg)
        self.prelude = BlockStack(cfg.block, cfg.prelude_layers)
        self.core = BlockStack(cfg.block, cfg.core_layers)
        self.coda = BlockStack(cfg.block, cfg.coda_layers)
        self.init_weights(cfg.prelude_layers + cfg.core_layers * cfg.loops + cfg.coda_layers)

    def latent_map(self, tokens: torch.Tensor):
        """One loop s -> core(s + e) for these tokens, as a function of the loop state alone."""
        x, rope = self.embed(tokens)
        e = self.prelude(x, rope)
        return lambda s: self.core(s + e, rope)

    def forward(self, tokens: torch.Tensor, mode: str | None = None, return_trace: bool = False,
                state: torch.Tensor | None = None, cache: DecodeCache | None = None) -> ModelOutput:
        """``state``: the loop state to start from (deep supervision), else the prelude output.
        ``cache``: decode incrementally (``init_cache``); each loop of the core keeps its own keys and
        values, since each sees another input."""
        if cache is not None and state is not None:
            raise ValueError("state and cache exclude each other: a cached decode starts every loop from the prelude")
        parsed = parse_inference_mode(mode or "solver")
        loops = 0 if parsed == "none" else (parsed or self.cfg.loops)
        x, rope = self.embed_cached(tokens, cache, mode or "solver")

        def layers(name: str, stack: BlockStack):
            return None if cache is None else cache.layers(name, len(stack))

        e = self.prelude(x, rope, layers("prelude", self.prelude))
        s, trace = (e if state is None else state), []
        no_grad_loops = loops - self.cfg.grad_loops if self.cfg.grad_loops else 0
        for i in range(loops):
            with torch.set_grad_enabled(torch.is_grad_enabled() and i >= no_grad_loops):
                prev, s = s, self.core(s + e, rope, layers(f"core.{i}", self.core))
            trace.append((s - prev).detach().flatten(1).norm(dim=1))
        stats: dict[str, torch.Tensor] = {"iterations": torch.full((tokens.shape[0],), loops, device=tokens.device)}
        if trace:
            stats["abs_residual"] = trace[-1]
            stats["rel_residual"] = trace[-1] / (s.detach().flatten(1).norm(dim=1) + 1e-9)
            if return_trace:
                stats["residual_trace"] = torch.stack(trace, dim=1)
        return ModelOutput(self.readout(self.coda(s, rope, layers("coda", self.coda))), stats, state=s.detach())
