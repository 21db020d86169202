"""Model sizes (docs/method.md#10-models-tokenizer-and-training-settings) and random initialisation
into a Hugging Face directory. A size is named by its parameter count at the default 2,200-token vocabulary."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import Qwen2Config

# The paper's ~100M Qwen2 decoder (docs/method.md#10-models-tokenizer-and-training-settings).
PAPER = dict(
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    num_key_value_heads=2,
    intermediate_size=3072,
    rope_theta=1e6,
    max_position_embeddings=2048,
    tie_word_embeddings=True,
)

SIZES: dict[str, dict[str, Any]] = {
    "100m": PAPER,
    # Seconds per step on 2 CPU cores; same architecture and code paths, smaller widths.
    "0.2m": dict(PAPER, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128),
    # The CPU study default: learns op 2-4 in minutes on 2 cores (docs/pretrain.md). RoPE base
    # 1e4: with base 1e6 and 32-dim heads most rotary pairs barely turn within a 1024-token block.
    "0.8m": dict(PAPER, hidden_size=128, num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=2,
                intermediate_size=512, rope_theta=1e4),
}


def qwen2_config(size: str, tokenizer) -> Qwen2Config:
    from transformers import Qwen2Config

    if size not in SIZES:
        raise ValueError(f"unknown model size {size!r}; choose one of {sorted(SIZES)}")
    return Qwen2Config(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **SIZES[size],
    )


def init_model(tokenizer_dir: str, out_dir: str, size: str = "0.2m", seed: int = 0) -> str:
    """Write a randomly initialised Qwen2 model plus its tokenizer (and a manifest) to ``out_dir``."""
    import torch
    from transformers import AutoTokenizer, GenerationConfig, Qwen2ForCausalLM

    from interplay_verl.manifest import invalidate, write_manifest

    invalidate(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = qwen2_config(size, tokenizer)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    ).save_pretrained(out_dir)
    write_manifest(out_dir, config={"tokenizer": os.path.abspath(tokenizer_dir), "size": size, "architecture": SIZES[size]},
                   seed=seed, kind="initial_model", parameters=sum(p.numel() for p in model.parameters()))
    return out_dir


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="interplay-verl init-model", description=init_model.__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--tokenizer", required=True, help="Hugging Face tokenizer directory")
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--size", default="0.2m", choices=sorted(SIZES), help="100m: the paper's model; 0.8m: the CPU study's")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    init_model(args.tokenizer, args.out, args.size, args.seed)
    print(args.out)
    return 0
