"""The Transformer block and its parts."""
from attractor.nn.block import Attention, Block, BlockConfig, BlockStack, KVCache, RMSNorm, Rotary, SwiGLU, apply_rotary

__all__ = ["Attention", "Block", "BlockConfig", "BlockStack", "KVCache", "RMSNorm", "Rotary", "SwiGLU", "apply_rotary"]
