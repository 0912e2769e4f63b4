"""A tiny random Hugging Face causal LM with a locally trained tokenizer, built with no download.

For tests, the decoding cost benchmark and a smoke run of ``python -m attractor.decoding run``: it
exercises the real ``transformers`` path (config, save, reload from a local folder, batched
``generate``) at toy size.

    python benchmarks/tiny_hf.py /tmp/tiny      # a model folder for --model-path (docs/decoding.md)
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as `python benchmarks/X.py`: put the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def save_tiny_llama(
    folder: str | Path,
    corpus: Iterable[str],
    vocab_size: int = 300,
    hidden_size: int = 32,
    layers: int = 2,
    heads: int = 4,
    seed: int = 0,
) -> Path:
    """Train a byte-level BPE tokenizer on ``corpus``, build a random Llama sized to it, save both."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=["<pad>", "<s>", "</s>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    folder = Path(folder)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, help="where to save the model and its tokenizer")
    from attractor.decoding.arithmetic import generate_problems

    corpus = [f"Q: {q.question}\nA: {q.solution}" for q in generate_problems(500)]
    print(save_tiny_llama(p.parse_args().folder, corpus))


if __name__ == "__main__":
    main()
