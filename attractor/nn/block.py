"""The one Transformer block every model is built from, and its parts, in the order data flows.

Pre-norm: x + attn(norm(x)), then x + mlp(norm(x)). Attention goes through
``F.scaled_dot_product_attention`` (causal or bidirectional); positions are rotary (applied here,
inside attention) or learned (added to the token embeddings by the model, outside the block).

Incremental decoding: attention takes an optional ``KVCache`` holding the keys and values of the
positions already seen; the new positions attend to those and to themselves (causally), and are
appended to the cache unless ``append=False`` (the attractor's solve evaluates its map many times at
one new position and appends only at the fixed point).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


@dataclass(frozen=True)
class BlockConfig:
    """Shape of one block; shared by every block of a model so the five models stay comparable."""

    dim: int
    n_heads: int
    mlp_ratio: float = 4.0
    causal: bool = False
    rotary: bool = True
    dropout: float = 0.0
    bias: bool = False
    gate_init: float | None = None  # per-channel gates on the sublayer outputs, initial value (None: ungated)
    gate_max: float = 1.0  # their upper bound: gate = sigmoid(logit) * gate_max

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def mlp_hidden(self) -> int:
        # SwiGLU has three matrices; 2/3 of the ratio keeps its parameter count equal to a GELU MLP's.
        hidden = int(2 * self.mlp_ratio * self.dim / 3)
        return 8 * ((hidden + 7) // 8)


class RMSNorm(nn.Module):
    """Root-mean-square norm with a learned gain (no mean subtraction, no bias), computed in float32.

    Kept over ``torch.nn.RMSNorm`` (torch 2.13, CPU, one thread; ``benchmarks/rmsnorm.py``): in
    float32 it gives the same outputs and gradients but took 1.03-1.17x our time in two of three
    runs on a loaded machine; in bfloat16 it took 1.2-1.8x and differs by a bf16 rounding step, as
    it does not normalise in float32."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        return (x.float() * scale).type_as(x) * self.weight


class Rotary(nn.Module):
    """Rotary position tables (cos, sin) for a head dimension, cached up to ``max_len``."""

    def __init__(self, head_dim: int, max_len: int, base: float = 10000.0):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary positions need an even head dimension, got head_dim={head_dim}")
        inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2).float() / head_dim)
        angles = torch.outer(torch.arange(max_len).float(), inv_freq)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, seq_len: int, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        if offset + seq_len > self.cos.shape[0]:
            raise ValueError(f"sequence of {offset + seq_len} positions exceeds max_len={self.cos.shape[0]}")
        return self.cos[offset : offset + seq_len], self.sin[offset : offset + seq_len]


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs of channels of x (..., T, D), e.g. (B, H, T, D), by position-dependent angles."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    rotated = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return rotated.flatten(-2)


class KVCache:
    """Keys and values (B, H, T, D) of the positions seen so far, for one attention layer.

    Held in buffers that grow by doubling, so a new position is written in place: concatenating the
    whole history at every step (and, for the attractor's map, at every solver iteration) was the
    cached decode's largest cost at long contexts. ``extend(..., append=False)`` writes the new
    positions past the stored ones without keeping them (the next call overwrites them).
    """

    def __init__(self) -> None:
        self.k: torch.Tensor | None = None  # buffers (B, H, capacity, D); positions [0, length) are stored
        self.v: torch.Tensor | None = None
        self.length = 0

    def __len__(self) -> int:
        return self.length

    def extend(self, k: torch.Tensor, v: torch.Tensor, append: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Cached keys and values followed by the new ones; stored when ``append``."""
        end = self.length + k.shape[2]
        if self.k is None or end > self.k.shape[2]:
            self._grow(k, v, end)
        self.k[:, :, self.length:end] = k
        self.v[:, :, self.length:end] = v
        if append:
            self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]

    def _grow(self, k: torch.Tensor, v: torch.Tensor, end: int) -> None:
        capacity = end if self.k is None else max(end, 2 * self.k.shape[2])
        k_buf, v_buf = (t.new_empty(*t.shape[:2], capacity, t.shape[3]) for t in (k, v))
        if self.k is not None:
            k_buf[:, :, :self.length], v_buf[:, :, :self.length] = self.k[:, :, :self.length], self.v[:, :, :self.length]
        self.k, self.v = k_buf, v_buf

    def select(self, rows: torch.Tensor) -> None:
        """Keep (or repeat) the batch rows ``rows``: particles sharing a prompt, rows that finished."""
        if self.k is not None:
            self.k, self.v = self.k[rows], self.v[rows]


class Attention(nn.Module):
    """Multi-head self-attention; one fused QKV projection, SDPA kernel, optional rotary positions."""

    def __init__(self, cfg: BlockConfig):
        super().__init__()
        if cfg.dim % cfg.n_heads:
            raise ValueError(f"dim={cfg.dim} is not divisible by n_heads={cfg.n_heads}")
        self.cfg = cfg
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim, bias=cfg.bias)
        self.out = nn.Linear(cfg.dim, cfg.dim, bias=cfg.bias)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None,
                cache: KVCache | None = None, append: bool = True) -> torch.Tensor:
        """``cache``: keys and values of earlier positions (causal attention only); ``rope`` must then
        be the tables of the new positions (offset by ``len(cache)``)."""
        qkv = rearrange(self.qkv(x), "b t (three h d) -> three b h t d", three=3, h=self.cfg.n_heads)
        q, k, v = qkv
        if rope is not None:  # q and k in one pass: the same elementwise arithmetic, half the kernel launches
            q, k = apply_rotary(qkv[:2], *rope)
        causal, mask = self.cfg.causal, None
        if cache is not None:
            if not causal:
                raise ValueError("a key/value cache needs causal attention (later tokens would change earlier ones)")
            past = len(cache)
            k, v = cache.extend(k, v, append)
            if past:  # SDPA's is_causal aligns the mask top-left; new positions sit bottom-right
                causal = False
                new = q.shape[2]
                mask = None if new == 1 else torch.ones(new, past + new, dtype=torch.bool, device=q.device).tril(past)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal, dropout_p=self.cfg.dropout if self.training else 0.0
        )
        return self.out(rearrange(y, "b h t d -> b t (h d)"))


class SwiGLU(nn.Module):
    """Gated MLP: down(silu(gate(x)) * up(x))."""

    def __init__(self, cfg: BlockConfig):
        super().__init__()
        self.gate = nn.Linear(cfg.dim, cfg.mlp_hidden, bias=cfg.bias)
        self.up = nn.Linear(cfg.dim, cfg.mlp_hidden, bias=cfg.bias)
        self.down = nn.Linear(cfg.mlp_hidden, cfg.dim, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class SublayerGate(nn.Module):
    """Per-channel bounded scale of a sublayer's output, sigmoid(logit) * gate_max (LayerScale kept in
    (0, gate_max)): small at init so a block stacked into a fixed-point map starts contractive.

    ``init >= gate_max`` saturates the sigmoid (logit of 1 - 1e-6): the gate is gate_max in effect and
    barely trains, as in the reference's 140M configuration.
    """

    def __init__(self, dim: int, init: float, gate_max: float):
        super().__init__()
        p = min(max(init / gate_max, 1e-6), 1 - 1e-6)
        self.gate_max = gate_max
        self.logit = nn.Parameter(torch.full((dim,), math.log(p / (1 - p))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (torch.sigmoid(self.logit) * self.gate_max)


class Block(nn.Module):
    """Pre-norm Transformer block: x + attn(norm(x)), then x + mlp(norm(x)); with ``cfg.gate_init``,
    each sublayer's output is scaled by its own ``SublayerGate``."""

    def __init__(self, cfg: BlockConfig):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.dim)
        self.attn = Attention(cfg)
        self.mlp_norm = RMSNorm(cfg.dim)
        self.mlp = SwiGLU(cfg)
        self.drop = nn.Dropout(cfg.dropout)
        gated = cfg.gate_init is not None
        self.attn_gate = SublayerGate(cfg.dim, cfg.gate_init, cfg.gate_max) if gated else nn.Identity()
        self.mlp_gate = SublayerGate(cfg.dim, cfg.gate_init, cfg.gate_max) if gated else nn.Identity()

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None,
                cache: KVCache | None = None, append: bool = True) -> torch.Tensor:
        x = x + self.drop(self.attn_gate(self.attn(self.attn_norm(x), rope, cache, append)))
        return x + self.drop(self.mlp_gate(self.mlp(self.mlp_norm(x))))


class TokenMLP(nn.Module):
    """Token mixing by a SwiGLU across positions (TRM's ``mlp_t``): for fixed-size boards, where
    every cell has a fixed place and attention's content-based routing is not needed."""

    def __init__(self, cfg: BlockConfig, seq_len: int):
        super().__init__()
        self.mix = SwiGLU(BlockConfig(seq_len, 1, cfg.mlp_ratio, bias=cfg.bias))

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None,
                cache: KVCache | None = None, append: bool = True) -> torch.Tensor:
        """Attention's signature; ``rope`` is unused (positions are the MLP's inputs) and a cache is
        refused (every position mixes with every other: there is nothing to decode incrementally)."""
        if cache is not None:
            raise ValueError("token mixing has no key/value cache: it mixes every position of a fixed board")
        return self.mix(x.transpose(1, 2)).transpose(1, 2)


class MixerBlock(Block):
    """The block with a token-mixing MLP in place of attention; ``seq_len`` is fixed by the board."""

    def __init__(self, cfg: BlockConfig, seq_len: int):
        super().__init__(cfg)
        self.attn = TokenMLP(cfg, seq_len)


class BlockStack(nn.Module):
    """Blocks applied in sequence; the unit the backbone, the looped core and the attractor map share.
    ``block`` builds each block from the config (default: the attention block)."""

    def __init__(self, cfg: BlockConfig, n_layers: int, block: Callable[[BlockConfig], nn.Module] = Block):
        super().__init__()
        self.blocks = nn.ModuleList(block(cfg) for _ in range(n_layers))

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None,
                cache: list[KVCache] | None = None, append: bool = True, first: int | None = None) -> torch.Tensor:
        """``cache``: one ``KVCache`` per block (see ``Attention``). ``first``: apply only the first
        this many blocks (an early exit; only their cache layers are read and written)."""
        blocks = self.blocks if first is None else self.blocks[:first]
        if cache is None:
            for block in blocks:
                x = block(x, rope)
            return x
        if len(cache) != len(self.blocks):
            raise ValueError(f"cache has {len(cache)} layers for a stack of {len(self.blocks)} blocks")
        for block, layer in zip(blocks, cache):
            x = block(x, rope, layer, append)
        return x

    def __len__(self) -> int:
        return len(self.blocks)
