"""Samplers: draw K trajectories per prompt and return them as Particles, whatever the model.

Both backends keep what the energies need from generation itself: log-probs and entropies from the
raw logits (not the temperature/top-p processed scores used to draw) and one layer's hidden states
captured by a forward hook, so no second pass and no all-layer hidden-state dump is needed.
"""
from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from attractor.decoding.particle import Particle


@dataclass(frozen=True)
class SamplingParams:
    """How trajectories are drawn; temperature 0 means greedy decoding."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    """0 turns top-k off (a Hugging Face model's own generation config may otherwise set one)."""
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    """A trajectory ends at the token that completes the first of these strings."""

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")


class Sampler(abc.ABC):
    """K trajectories for each prompt: ``sample(prompts, k, params)[i][j]`` is particle j of prompt i."""

    @abc.abstractmethod
    def sample(self, prompts: Sequence[str], k: int, params: SamplingParams) -> list[list[Particle]]:
        ...


class _LastPositionHook:
    """Forward hook that keeps the last position's output of one module at every call.

    During generation each forward call yields the hidden state whose logits draw the next token,
    so the i-th capture lines up with the i-th generated token.
    """

    def __init__(self, model: nn.Module, module_name: str | None):
        self.steps: list[torch.Tensor] = []
        self._handle = None
        if module_name is not None:
            modules = dict(model.named_modules())
            if module_name not in modules:
                hint = ", ".join(n for n in modules if n.count(".") <= 2 and n)[:400]
                raise KeyError(f"hidden_module {module_name!r} not in the model; some names: {hint}")
            self._handle = modules[module_name].register_forward_hook(self._record)

    def _record(self, module: nn.Module, args: Any, output: Any) -> None:
        out = output[0] if isinstance(output, tuple) else output
        self.steps.append(out[:, -1, :].detach().float())

    def repeat_last(self, rows: torch.Tensor) -> None:
        """Index the last capture by ``rows``: a prompt's capture shared by its K particles."""
        if self.steps:
            self.steps[-1] = self.steps[-1][rows]

    def expand_last(self, rows: torch.Tensor, n: int) -> None:
        """Spread the last capture, made on the batch rows ``rows`` only, over all ``n`` rows
        (zeros elsewhere), so captures of calls on shrinking batches still stack."""
        if self.steps:
            last = self.steps[-1]
            self.steps[-1] = last.new_zeros((n, last.shape[-1])).index_copy_(0, rows, last)

    def stacked(self) -> torch.Tensor | None:
        """(N, T, H) over the calls since the last reset, or None when no module was hooked."""
        return torch.stack(self.steps, dim=1).cpu() if self._handle is not None else None

    def reset(self) -> None:
        self.steps = []


CONFIDENCE_TOP_K = 20
"""DeepConf's k: token confidence averages the log-probs of the k most likely tokens."""


def token_stats(step_logits: Sequence[torch.Tensor], tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-token log-prob of the chosen token, predictive entropy and DeepConf token confidence,
    all from raw logits.

    ``step_logits[t]`` is (N, V) and ``tokens`` (N, T); one step at a time so a large vocabulary
    never needs an (N, T, V) log-softmax at once. The confidence is DeepConf's
    C_t = -(1/k) sum_{j<=k} log p_t(j) over the k = min(20, V) most likely tokens (Fu et al. 2025,
    "Deep Think with Confidence", arXiv 2508.15260): high when the distribution is peaked.
    Returns three (N, T) float32 tensors.
    """
    logprobs, entropies, confidences = [], [], []
    for t, logits in enumerate(step_logits):
        logp = torch.log_softmax(logits.float(), dim=-1)
        logprobs.append(logp.gather(1, tokens[:, t : t + 1]).squeeze(1))
        entropies.append(torch.special.entr(logp.exp()).sum(-1))
        confidences.append(-logp.topk(min(CONFIDENCE_TOP_K, logp.shape[-1]), dim=-1).values.mean(-1))
    return torch.stack(logprobs, 1), torch.stack(entropies, 1), torch.stack(confidences, 1)


def trajectory_length(ids: Sequence[int], eos_ids: set[int], decode: Callable[[list[int]], str], stop: Sequence[str]) -> int:
    """Tokens that belong to the trajectory: up to and including the first EOS, and no further
    than the token that completes a stop string (found by bisection: containing a stop string only
    becomes true as a prefix grows)."""
    n = next((i + 1 for i, t in enumerate(ids) if t in eos_ids), len(ids))
    if not stop or not any(s in decode(list(ids[:n])) for s in stop):
        return n
    lo, hi = 1, n
    while lo < hi:
        mid = (lo + hi) // 2
        if any(s in decode(list(ids[:mid])) for s in stop):
            hi = mid
        else:
            lo = mid + 1
    return lo


def to_particles(
    tokens: torch.Tensor,
    step_logits: Sequence[torch.Tensor],
    hidden: torch.Tensor | None,
    eos_ids: set[int],
    decode: Callable[[list[int]], str],
    stop: Sequence[str],
    solver: dict[str, torch.Tensor] | None = None,
) -> list[Particle]:
    """Cut each generated row (N, T) to its own length and attach its per-token statistics
    (``solver``: name -> (N, T) solver statistics, when the model reports them)."""
    logprobs, entropies, confidences = token_stats(step_logits, tokens)
    solver = solver or {}
    particles = []
    for i, row in enumerate(tokens.tolist()):
        n = trajectory_length(row, eos_ids, decode, stop)
        text = decode(row[:n])
        for s in stop:
            text = text.split(s, 1)[0]
        particles.append(
            Particle(row[:n], text, logprobs[i, :n], entropies[i, :n], None if hidden is None else hidden[i, :n],
                     confidences[i, :n], {name: values[i, :n] for name, values in solver.items()})
        )
    return particles


class HFSampler(Sampler):
    """A Hugging Face causal LM: all prompts x K samples in one batched, left-padded ``generate``."""

    def __init__(self, model: nn.Module, tokenizer: Any, hidden_module: str | None = None):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_ids = set() if eos is None else set(eos) if isinstance(eos, (list, tuple)) else {eos}
        self.hook = _LastPositionHook(model, hidden_module)

    @classmethod
    def from_path(
        cls,
        path: str | Path,
        hidden_module: str | None = None,
        trust_remote_code: bool = False,
        device: str = "cpu",
        dtype: str | None = None,
    ) -> HFSampler:
        """Load model and tokenizer from a local folder (no hub access; remote code only if asked)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"model_path {path}: not a local folder")
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            path, trust_remote_code=trust_remote_code, local_files_only=True, dtype=dtype or "auto"
        ).to(device)
        return cls(model, tokenizer, hidden_module)

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    @torch.inference_mode()
    def sample(self, prompts: Sequence[str], k: int, params: SamplingParams) -> list[list[Particle]]:
        if params.temperature == 0 and k != 1:
            raise ValueError(f"greedy decoding (temperature 0) gives one trajectory, asked for k={k}")
        enc = self.tokenizer(list(prompts), return_tensors="pt", padding=True).to(self.model.device)
        draw = (
            dict(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=params.top_k)
            if params.temperature > 0
            else dict(do_sample=False)
        )
        # Stop strings end rows early inside generate; to_particles still finds the exact cut.
        stop = dict(stop_strings=list(params.stop), tokenizer=self.tokenizer) if params.stop else {}
        self.hook.reset()
        out = self.model.generate(
            **enc,
            **draw,
            **stop,
            max_new_tokens=params.max_new_tokens,
            num_return_sequences=k,
            output_logits=True,
            return_dict_in_generate=True,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        new = out.sequences[:, enc["input_ids"].shape[1] :].cpu()
        hidden = self.hook.stacked()
        flat = to_particles(new, [l.cpu() for l in out.logits], hidden, self.eos_ids, self._decode, params.stop)
        return [flat[i * k : (i + 1) * k] for i in range(len(prompts))]


class CharTokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


class NativeSampler(Sampler):
    """One of the project's own LMs: any module mapping a LongTensor (B, T) to an object with
    ``.logits`` (B, T, V). Prompts of the same token length are batched together, K rows each: equal
    lengths need no padding, hence no attention mask, which these models do not take. With
    ``max_len`` the model sees only the last ``max_len`` tokens (its position tables' reach).

    A model with ``init_cache()`` (the project's causal models) decodes incrementally when
    ``use_cache``: each prompt runs once, its K particles share its key/value cache, and each step
    feeds one token per row. Once the context outgrows ``max_len`` every step re-runs the model on
    the last ``max_len`` tokens, as without a cache (a sliding window would move every position).
    Other models re-run the full forward each step. A row that completes one of ``params.stop`` (or
    draws ``eos_id``) leaves the forward; ``to_particles`` cuts it there.

    A model whose output carries solver statistics (the attractor: ``stats["iterations"]`` and
    ``stats["rel_residual"]`` per row) has them kept per generated token in ``Particle.solver``:
    with the cache, the solve of that token's position alone (the first token: the prompt's
    worst position); without it, the worst position of the re-run window."""

    def __init__(
        self,
        model: nn.Module,
        tokenizer: CharTokenizer,
        eos_id: int | None = None,
        hidden_module: str | None = None,
        device: str = "cpu",
        max_len: int | None = None,
        use_cache: bool = True,
    ):
        self.model = model.eval().to(device)
        self.max_len = max_len
        self.tokenizer = tokenizer
        self.eos_id = eos_id
        self.device = device
        self.use_cache = use_cache and callable(getattr(model, "init_cache", None))
        self.hook = _LastPositionHook(model, hidden_module)

    def sample(self, prompts: Sequence[str], k: int, params: SamplingParams) -> list[list[Particle]]:
        return self.sample_ids([self.tokenizer.encode(p) for p in prompts], k, params)

    @torch.inference_mode()
    def sample_ids(self, encoded: Sequence[list[int]], k: int, params: SamplingParams) -> list[list[Particle]]:
        """``sample`` for prompts given as token ids: a caller that truncates prompts to the model's
        context (an evaluation harness) truncates tokens, not text."""
        if params.temperature == 0 and k != 1:
            raise ValueError(f"greedy decoding (temperature 0) gives one trajectory, asked for k={k}")
        if any(len(ids) == 0 for ids in encoded):
            raise ValueError("NativeSampler: empty prompt (the model needs at least one token)")
        by_length: dict[int, list[int]] = {}
        for i, ids in enumerate(encoded):
            by_length.setdefault(len(ids), []).append(i)
        clouds: list[list[Particle]] = [[] for _ in encoded]
        for group in by_length.values():
            flat = self._sample_rows([encoded[i] for i in group], k, params)
            for j, i in enumerate(group):
                clouds[i] = flat[j * k : (j + 1) * k]
        return clouds

    def _sample_rows(self, prompts: list[list[int]], k: int, params: SamplingParams) -> list[Particle]:
        """K trajectories per prompt, rows in prompt order; all prompts have the same length."""
        ids = torch.tensor(prompts, device=self.device).repeat_interleave(k, dim=0)
        n, prompt_len = ids.shape
        finished = torch.zeros(n, dtype=torch.bool, device=self.device)
        step_logits: list[torch.Tensor] = []
        step_solver: list[dict[str, torch.Tensor]] = []
        self.hook.reset()
        cache, in_cache = None, None  # the decode cache and the rows it holds
        for step in range(params.max_new_tokens):
            active = (~finished).nonzero().squeeze(1)
            # Finished rows leave the forward (rows are independent: causal, no padding); they get
            # zero logits and hidden states, which lie past their EOS and are cut off.
            if self.use_cache and (self.max_len is None or ids.shape[1] <= self.max_len):
                if step == 0:  # each prompt once; its K particles share its cache
                    cache = self.model.init_cache()
                    out, solver = _last_logits(self.model(ids[::k], cache=cache))
                    in_cache = torch.arange(len(prompts), device=self.device).repeat_interleave(k)
                    cache.select(in_cache)
                    out, solver = out[in_cache], {name: v[in_cache] for name, v in solver.items()}
                    self.hook.repeat_last(in_cache)
                    in_cache = torch.arange(n, device=self.device)
                else:
                    if len(active) < len(in_cache):
                        cache.select(torch.searchsorted(in_cache, active))
                        in_cache = active
                    out, solver = _last_logits(self.model(ids[active, -1:], cache=cache))
            else:
                window = ids if self.max_len is None else ids[:, -self.max_len :]
                out, solver = _last_logits(self.model(window[active]))
            logits = out.new_zeros((n, out.shape[-1])).index_copy_(0, active, out)
            step_solver.append({name: v.new_zeros(n).index_copy_(0, active, v) for name, v in solver.items()})
            self.hook.expand_last(active, n)
            step_logits.append(logits.cpu())
            nxt = _draw(logits, params)
            if self.eos_id is not None:
                nxt = torch.where(finished, self.eos_id, nxt)  # finished rows repeat EOS
                finished |= nxt == self.eos_id
            ids = torch.cat([ids, nxt[:, None]], dim=1)
            if params.stop:  # a row that completed a stop string is done; to_particles cuts it there
                finished |= self._completed_stop(ids[:, prompt_len:], ~finished, params.stop)
            if finished.all():
                break
        hidden = self.hook.stacked()
        solver = {name: torch.stack([s[name] for s in step_solver], 1).cpu() for name in step_solver[0]}
        return to_particles(
            ids[:, prompt_len:].cpu(), step_logits, hidden,
            set() if self.eos_id is None else {self.eos_id}, self.tokenizer.decode, params.stop, solver,
        )

    def _completed_stop(self, generated: torch.Tensor, rows: torch.Tensor, stop: Sequence[str]) -> torch.Tensor:
        """Which of the ``rows`` (a mask) hold one of the ``stop`` strings in their generated text."""
        done = torch.zeros_like(rows)
        for i in rows.nonzero().squeeze(1).tolist():
            text = self.tokenizer.decode(generated[i].tolist())
            done[i] = any(s in text for s in stop)
        return done


SOLVER_STATS = ("iterations", "rel_residual")
"""Per-row solver statistics a NativeSampler keeps per token when the model's output has them."""


def _last_logits(output: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The last position's logits (rows, V) and the rows' solver statistics (name -> (rows,))."""
    stats = getattr(output, "stats", None) or {}
    return output.logits[:, -1, :].float(), {name: stats[name].float() for name in SOLVER_STATS if name in stats}


def _draw(logits: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """Next tokens (N,) from raw logits (N, V) with temperature, top-k and nucleus (top-p) filtering."""
    if params.temperature == 0:
        return logits.argmax(-1)
    scores = logits / params.temperature
    if params.top_k > 0:
        kth = scores.topk(min(params.top_k, scores.shape[-1]), dim=-1).values[:, -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if params.top_p < 1:
        sorted_scores, order = scores.sort(dim=-1, descending=True)
        cum = sorted_scores.softmax(-1).cumsum(-1)
        drop = cum - sorted_scores.softmax(-1) >= params.top_p
        scores = scores.scatter(1, order, sorted_scores.masked_fill(drop, float("-inf")))
    return torch.multinomial(scores.softmax(-1), 1).squeeze(1)
