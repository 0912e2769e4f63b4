"""Export a causal transformer LM as a ``transformers`` ``LlamaForCausalLM`` folder.

    python eval.py action=export format=llama ckpt=outputs/RUN/checkpoints/last.ckpt out=DIR
    AutoModelForCausalLM.from_pretrained(DIR)   # logits equal ours to 1e-5 (float32)

Our transformer block is Llama's: pre-norm RMSNorm (eps 1e-6), rotary attention (base 10000), SwiGLU,
no biases, optionally tied embeddings. Two conventions differ and are converted here:
- we project q, k, v with one fused matrix (rows: q then k then v, head-major); Llama has three;
- we rotate interleaved channel pairs (x[2i], x[2i+1]) by frequency i, Llama rotates half against half
  (x[i], x[i + d/2]). Permuting the rows of q and k within each head so that channel 2i goes to i and
  2i+1 to i + d/2 turns one into the other; attention scores q·k do not change under a permutation
  applied to both.

Only a plain stack exports: looped and attractor models apply blocks many times (Llama cannot say
so), bidirectional models are not causal LMs, and learned positions have no Llama counterpart.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from attractor.config import ConfigError
from attractor.models import SequenceModel
from attractor.models.config import ModelConfig

ROPE_THETA = 10000.0  # attractor.nn.Rotary's base
RMS_NORM_EPS = 1e-6  # attractor.nn.RMSNorm's eps

# our state-dict names -> Llama's (block index in {i})
_BLOCK_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn.out.weight": "self_attn.o_proj.weight",
    "mlp_norm.weight": "post_attention_layernorm.weight",
    "mlp.gate.weight": "mlp.gate_proj.weight",
    "mlp.up.weight": "mlp.up_proj.weight",
    "mlp.down.weight": "mlp.down_proj.weight",
}
_BLOCK = re.compile(r"blocks\.blocks\.(\d+)\.(.+)")


def check_exportable(cfg: ModelConfig) -> None:
    """Refuse, naming the config key, a model that a Llama cannot express."""
    if cfg.name != "transformer":
        raise ConfigError("model.name", f"a {cfg.name!r} model cannot be exported as a Llama: only the transformer "
                                        "is a plain stack of blocks (looped and attractor models reuse theirs)")
    if not cfg.causal:
        raise ConfigError("model.causal", "a bidirectional model cannot be exported as a Llama (a causal LM)")
    if cfg.positions != "rotary":
        raise ConfigError("model.positions", f"{cfg.positions!r} positions have no Llama counterpart (rotary only)")


def llama_config(cfg: ModelConfig) -> Any:
    """The ``LlamaConfig`` of a causal rotary transformer."""
    from transformers import LlamaConfig

    check_exportable(cfg)
    block = cfg.block
    return LlamaConfig(
        vocab_size=cfg.vocab_size, hidden_size=cfg.dim, intermediate_size=block.mlp_hidden,
        num_hidden_layers=cfg.n_layers, num_attention_heads=cfg.n_heads, num_key_value_heads=cfg.n_heads,
        head_dim=block.head_dim, max_position_embeddings=cfg.max_len, rms_norm_eps=RMS_NORM_EPS,
        rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA}, hidden_act="silu",
        attention_bias=block.bias, mlp_bias=block.bias, attention_dropout=0.0,
        tie_word_embeddings=cfg.tie_embeddings, bos_token_id=None, eos_token_id=None, pad_token_id=None,
        dtype="float32",
    )


def rotate_half_order(n_heads: int, head_dim: int) -> torch.Tensor:
    """Row indices that turn our interleaved-pair q/k rows into Llama's half-split order, per head."""
    within = torch.cat([torch.arange(0, head_dim, 2), torch.arange(1, head_dim, 2)])
    return (torch.arange(n_heads)[:, None] * head_dim + within).flatten()


def llama_state_dict(model: SequenceModel) -> dict[str, torch.Tensor]:
    """Our transformer's weights under Llama's names and conventions (every tensor accounted for)."""
    cfg = model.cfg
    check_exportable(cfg)
    order = rotate_half_order(cfg.n_heads, cfg.dim // cfg.n_heads)
    out = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().clone()
        block = _BLOCK.fullmatch(name)
        if name == "embedding.weight":
            out["model.embed_tokens.weight"] = tensor
        elif name == "final_norm.weight":
            out["model.norm.weight"] = tensor
        elif name == "head.weight":
            out["lm_head.weight"] = tensor  # also under tied embeddings: transformers ties it back
        elif block and block.group(2) == "attn.qkv.weight":
            q, k, v = tensor.chunk(3)
            prefix = f"model.layers.{block.group(1)}.self_attn."
            out |= {prefix + "q_proj.weight": q[order], prefix + "k_proj.weight": k[order], prefix + "v_proj.weight": v}
        elif block and block.group(2) in _BLOCK_NAMES:
            out[f"model.layers.{block.group(1)}.{_BLOCK_NAMES[block.group(2)]}"] = tensor
        else:
            raise ConfigError("model", f"weight {name!r} has no Llama counterpart")
    return out


def to_llama(model: SequenceModel) -> Any:
    """A ``LlamaForCausalLM`` computing our model's logits (float32, eval mode)."""
    from transformers import LlamaForCausalLM

    llama = LlamaForCausalLM(llama_config(model.cfg)).float()
    llama.load_state_dict(llama_state_dict(model), strict=True)
    return llama.eval()


def hf_tokenizer(tokenizer: Any) -> Any:
    """Our tokenizer as a ``transformers`` fast tokenizer: a BPE wraps as it is; a char vocabulary
    becomes a word-level model over single characters."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    if tokenizer.kind == "bpe":
        inner = tokenizer.tokenizer
    else:
        inner = Tokenizer(models.WordLevel({c: i for i, c in enumerate(tokenizer.chars)}, unk_token="<unk>"))  # not in the vocabulary: an unknown character is an error
        inner.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        inner.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=inner, clean_up_tokenization_spaces=False)


def export_llama(model: SequenceModel, out: str | os.PathLike, tokenizer: Any = None,
                 provenance: dict | None = None) -> Path:
    """Write ``model`` (and ``tokenizer``, ours) as a transformers Llama folder at ``out``;
    ``provenance`` (which weights, which run) is kept in config.json as ``attractor_export``.

    transformers writes several files; they are written to a temporary folder beside ``out`` and each
    moved in with one rename, so a reader never sees a half-written file."""
    llama = to_llama(model)
    if provenance:
        llama.config.attractor_export = provenance
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        llama.save_pretrained(tmp)
        if tokenizer is not None:
            hf_tokenizer(tokenizer).save_pretrained(tmp)
        for file in sorted(tmp.iterdir(), key=lambda f: f.name == "config.json"):  # config last
            os.replace(file, out / file.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
