"""Our causal language models as an EleutherAI lm-evaluation-harness model, registered as ``attractor``.

    lm = AttractorLM("outputs/RUN/checkpoints/best.ckpt", mode="none")   # or an export folder
    lm_eval.simple_evaluate(lm, tasks=["lambada_openai"], task_manager=TaskManager(include_path=...))
    python -m attractor.evaluation.lm_harness_cli --model attractor --model_args pretrained=PATH,mode=none ...

The harness scores models through three calls: ``loglikelihood`` (context, continuation),
``loglikelihood_rolling`` (a whole text, in windows of the model's context) and ``generate_until``.
Our vocabularies (char, byte-level BPE) have no BOS/EOS token, so ``prefix`` (a text of one token,
``"\\n"`` by default) stands for a document's start: it is the context of a rolling text's first
token and of a continuation with an empty context. A text's rolling windows are then exactly the
windows ``eval.py`` tiles a split with, when the split is the prefix followed by that text.

Inputs longer than the model's ``max_len`` keep their last tokens (left truncation, as the harness
expects). Log-likelihood requests are batched longest first and right-padded (exact for causal
models: padding only follows the positions read); generation batches prompts of equal token length
(the models take no padding mask) and decodes with the key/value cache (``native_sampler``). In the
adaptive ``solver`` mode, as in ``eval.py``, a row's solve stops when its whole batch converged, so
its figures depend on its batch within the solver's tolerance.
"""
from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from lm_eval.api.model import TemplateLM
from lm_eval.api.registry import register_model
from lm_eval.models.utils import Collator
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

from attractor.data.text.tokenizer import Tokenizer, load_tokenizer
from attractor.decoding.samplers import SamplingParams
from attractor.evaluation.checkpoint import load_checkpoint
from attractor.evaluation.lm import _lm_data, native_sampler
from attractor.models import SequenceModel, parse_inference_mode

GENERATION_KEYS = ("until", "max_gen_toks", "do_sample", "temperature", "top_p", "top_k")
MAX_GEN_TOKS = 256  # the harness's own default (HFLM.max_gen_toks)


def load_causal_lm(path: str | os.PathLike, weights: str | None = None,
                   tokenizer: str | os.PathLike | None = None) -> tuple[SequenceModel, Tokenizer, dict[str, Any]]:
    """Model, tokenizer and a description of a causal LM from a training checkpoint (the tokenizer
    of its prepared corpus) or an export folder (its tokenizer.json); ``tokenizer``: a tokenizer
    file or folder to use instead. Raises ValueError for a puzzle model or a missing tokenizer."""
    path = Path(path)
    if path.is_dir() and (path / "config.json").is_file():
        from attractor.hub import load_pretrained

        if weights is not None:
            raise ValueError(f"weights: an export holds one set of weights; {path} cannot switch to {weights!r}")
        pretrained = load_pretrained(path)
        model, task, weights = pretrained.model, (pretrained.task or {}).get("name"), pretrained.weights
        found = pretrained.tokenizer
        if task not in (None, "lm"):
            raise ValueError(f"{path} holds a {task!r} model, not a language model: the harness scores causal LMs")
        if found is None and tokenizer is None:
            raise ValueError(f"{path}: no tokenizer (config.json's 'tokenizer' is null); pass tokenizer=PATH "
                             "to a tokenizer.json, or export the checkpoint again (action=export)")
    else:
        run, model, weights = load_checkpoint(path, weights)
        if run.task.name != "lm":
            raise ValueError(f"{path} is a {run.task.name!r} checkpoint, not a language model: "
                             "the harness scores causal LMs")
        found = None
        if tokenizer is None:
            try:
                found = load_tokenizer(_lm_data(run, path).data_dir)
            except FileNotFoundError as err:
                raise ValueError(f"{path}: its tokenizer is in the run's prepared corpus, which is not here ({err}); "
                                 "pass tokenizer=PATH to its tokenizer.json, or evaluate an export folder") from None
    tok = load_tokenizer(tokenizer) if tokenizer is not None else found
    if tok.vocab_size != model.cfg.vocab_size:
        raise ValueError(f"tokenizer: {tok.vocab_size} tokens, but the model has a vocabulary of {model.cfg.vocab_size}")
    if not model.cfg.causal:
        raise ValueError(f"{path}: a bidirectional {model.cfg.name!r} model; the harness scores causal LMs")
    return model, tok, {"source": str(path), "model": model.cfg.name, "weights": weights,
                        "parameters": model.num_parameters(), "max_len": model.cfg.max_len}


def check_mode(model_name: str, mode: str | None) -> str | None:
    """``mode`` if ``model_name`` has it (None: the model's default), else a ValueError naming the key.
    A transformer has one mode: it ignores ``mode``, so another would score the same model under a
    misleading name."""
    if mode is None:
        return None
    try:
        parse_inference_mode(mode)
    except ValueError as err:
        raise ValueError(f"mode: {err}") from None
    if model_name == "transformer" and mode != "solver":
        raise ValueError(f"mode: {mode!r}: a transformer has no solver or loops; its one mode is 'solver'")
    return mode


@register_model("attractor")
class AttractorLM(TemplateLM):
    """A checkpoint or export folder (``pretrained``) served to the harness in one inference ``mode``
    (``solver``, ``iters=N``, ``none``; the looped model's loop count is ``iters=N``)."""

    def __init__(self, pretrained: str, mode: str | None = None, batch_size: int | str = 16,
                 device: str | None = None, weights: str | None = None, tokenizer: str | None = None,
                 prefix: str = "\n"):
        super().__init__()
        model, self.tok, self.info = load_causal_lm(pretrained, weights, tokenizer)
        self.mode = check_mode(model.cfg.name, mode)
        if not str(batch_size).isdigit() or int(batch_size) < 1:
            raise ValueError(f"batch_size: a positive integer, got {batch_size!r} ('auto' is not supported)")
        self.batch_size = int(batch_size)
        self._device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self._device).eval()
        ids = self.tok.encode(prefix).tolist()
        if len(ids) != 1:
            raise ValueError(f"prefix: {prefix!r} is {len(ids)} tokens of this tokenizer; it must be one")
        self.prefix, self._prefix_id = prefix, ids[0]

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None) -> AttractorLM:
        """``--model_args k=v,...`` with every value kept a string: the harness's own parser reads
        ``mode=none`` as None, which would score the model's default mode instead."""
        args = {}
        for item in filter(None, arg_string.split(",")):
            key, eq, value = item.partition("=")
            if not eq:
                raise ValueError(f"model_args: {item!r} is not key=value")
            args[key.strip()] = value.strip()
        return cls(**args, **{k: v for k, v in (additional_config or {}).items() if v is not None})

    def in_mode(self, mode: str | None) -> AttractorLM:
        """The same loaded model in another inference mode (a sweep loads it once)."""
        other = copy.copy(self)
        other.mode = check_mode(self.model.cfg.name, mode)
        return other

    @property
    def max_length(self) -> int:
        return self.model.cfg.max_len

    @property
    def eot_token_id(self) -> int:
        return self._prefix_id

    @property
    def tokenizer_name(self) -> str:
        return f"attractor-{self.tok.kind}-{self.tok.fingerprint[:12]}"

    def get_model_info(self) -> dict[str, Any]:
        """Recorded in the harness's results ``config``."""
        return {**self.info, "mode": self.mode, "prefix": self.prefix, "tokenizer": self.tok.kind}

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs: Any) -> list[int]:
        return self.tok.encode(string).tolist()

    def tok_decode(self, tokens: Sequence[int]) -> str:
        return self.tok.decode(tokens)

    def _loglikelihood_tokens(self, requests: list[tuple[tuple[str, str], list[int], list[int]]],
                              disable_tqdm: bool = False, **kwargs: Any) -> list[tuple[float, bool]]:
        results = self.score_pairs([(context, continuation) for _, context, continuation in requests])
        for (pair, _, _), result in zip(requests, results):
            self.cache_hook.add_partial("loglikelihood", pair, result)
        return results

    @torch.no_grad()
    def score_pairs(self, pairs: Sequence[tuple[list[int], list[int]]]) -> list[tuple[float, bool]]:
        """(log-probability of the continuation, whether greedy decoding gives it) per (context ids,
        continuation ids), each input cut to the model's last ``max_len`` tokens. Batches go longest
        first; equal lengths keep their order, so a split's windows batch as ``eval.py`` batches them."""
        for _, continuation in pairs:
            if not 0 < len(continuation) <= self.max_length:
                raise ValueError(f"a continuation of {len(continuation)} tokens: the model scores 1 to "
                                 f"max_len={self.max_length} at once")
        order = Collator(list(pairs), sort_fn=lambda pair: -len(pair[0]) - len(pair[1]))
        results = []
        for chunk in order.get_batched(n=self.batch_size):
            rows = [(context + continuation)[-(self.max_length + 1):][:-1] for context, continuation in chunk]
            batch = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)
            for i, row in enumerate(rows):
                batch[i, :len(row)] = torch.tensor(row)
            logits = self.model(batch.to(self._device), mode=self.mode).logits
            logp = torch.log_softmax(logits.float(), dim=-1).cpu()
            for i, (row, (_, continuation)) in enumerate(zip(rows, chunk)):
                target = torch.tensor(continuation)
                scored = logp[i, len(row) - len(target):len(row)]
                results.append((scored.gather(1, target[:, None]).sum().item(),
                                bool((scored.argmax(-1) == target).all())))
        return order.get_original(results)

    def loglikelihood_rolling(self, requests: list, disable_tqdm: bool = False) -> list[float]:
        """Every token of each text scored once, in windows of ``max_len`` (the harness's own
        windowing), the first conditioned on ``prefix``."""
        windows, owner = [], []
        for i, (text,) in enumerate(request.args for request in requests):
            for window in get_rolling_token_windows(self.tok_encode(text), self.eot_token_id, self.max_length, 1):
                windows.append(make_disjoint_window(window))
                owner.append(i)
        totals = [0.0] * len(requests)
        for i, (logprob, _) in zip(owner, self.score_pairs(windows)):
            totals[i] += logprob
        for request, total in zip(requests, totals):
            self.cache_hook.add_partial("loglikelihood_rolling", request.args, total)
        return totals

    def generate_until(self, requests: list, disable_tqdm: bool = False) -> list[str]:
        """Each context continued until a stop string (``until``) or ``max_gen_toks`` tokens: greedy
        unless ``do_sample``; the context keeps its last ``max_len`` tokens."""
        results: list[str | None] = [None] * len(requests)
        groups: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault(repr(sorted(request.args[1].items())), []).append(i)
        sampler = native_sampler(self.model, self.tok, self.mode, str(self._device))
        for indices in groups.values():
            params = sampling_params(requests[indices[0]].args[1])
            prompts = {i: (self.tok_encode(requests[i].args[0]) or [self.eot_token_id])[-self.max_length:]
                       for i in indices}
            by_length = sorted(indices, key=lambda i: len(prompts[i]))
            for start in range(0, len(by_length), self.batch_size):
                chunk = by_length[start:start + self.batch_size]
                for i, (particle,) in zip(chunk, sampler.sample_ids([prompts[i] for i in chunk], 1, params)):
                    results[i] = particle.text
                    self.cache_hook.add_partial("generate_until", requests[i].args, particle.text)
        return results


def sampling_params(gen_kwargs: dict[str, Any]) -> SamplingParams:
    """A task's generation kwargs as our sampler's parameters; a key we would ignore is an error."""
    unknown = sorted(set(gen_kwargs) - set(GENERATION_KEYS))
    if unknown:
        raise ValueError(f"generation_kwargs: {unknown[0]!r} is not supported (only {', '.join(GENERATION_KEYS)})")
    until = gen_kwargs.get("until") or []
    sampled = gen_kwargs.get("do_sample", False)
    return SamplingParams(temperature=float(gen_kwargs.get("temperature", 1.0)) if sampled else 0.0,
                          top_p=float(gen_kwargs.get("top_p", 1.0)), top_k=int(gen_kwargs.get("top_k", 0)),
                          max_new_tokens=int(gen_kwargs.get("max_gen_toks", MAX_GEN_TOKS)),
                          stop=(until,) if isinstance(until, str) else tuple(until))

