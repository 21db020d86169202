"""Model sizes (docs/method.md#10-models-tokenizer-and-training-settings), random initialisation
into a Hugging Face directory, and model names: where a named checkpoint is on this machine.

A size is named by its parameter count at the default 2,200-token vocabulary.

Every command that takes ``--model`` accepts a local directory, or a hub repository id with a
subfolder, the layout the paper's checkpoints were released in::

    --model Interplay-LM-Reasoning/extrapolation_midtrain \
        --subfolder id2-10_0.2easy_0.3medium_0.5hard/midtrain/cpt0.2-uniform_0.8-11-14_plus/checkpoint-387
    --model Interplay-LM-Reasoning/extrapolation_midtrain:id2-10_.../checkpoint-387   # the same, one string

Nothing is downloaded: a repository is looked up in the mirror directories of
``INTERPLAY_VERL_MODEL_MIRROR`` (``<mirror>/<org>/<name>/<subfolder>``), then in the Hugging
Face cache (``HF_HUB_CACHE``; fill it with ``hf download <repo> --include '<subfolder>/*'`` on a
machine with internet). The result is a plain directory, so verl and every stage read it as usual.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, Optional

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
    # 2 layers: learns the outline of op 2-4 solutions in minutes on 2 cores (docs/pretrain.md). RoPE
    # base 1e4: with base 1e6 and 16-dim heads most rotary pairs barely turn within a 1024-token block.
    "0.8m": dict(PAPER, hidden_size=128, num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=2,
                intermediate_size=512, rope_theta=1e4),
    # The tiny profile's: 4 layers, which learn to chain op 2-4 solutions within its minutes
    # (docs/paper-differences.md#runs-at-cpu-scale).
    "1.2m": dict(PAPER, hidden_size=128, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2,
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


MIRROR_ENV = "INTERPLAY_VERL_MODEL_MIRROR"
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


class ModelNotFound(ValueError):
    """A model name that is neither a local model directory nor a repository found offline."""


def _is_model_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "config.json"))


def resolve_model(name: str, subfolder: Optional[str] = None) -> str:
    """The local directory of the model ``name`` (a directory, ``org/name``, or ``org/name:subfolder``)."""
    if subfolder is None and ":" in name and not os.path.exists(name):
        name, _, subfolder = name.partition(":")
    subfolder = (subfolder or "").strip("/")
    local = os.path.expanduser(os.path.join(name, subfolder) if subfolder else name)
    if os.path.isdir(local):
        if not _is_model_dir(local):
            raise ModelNotFound(f"--model {local}: not a Hugging Face model directory (no config.json)")
        return local
    if not _REPO_ID.match(name) or os.path.exists(os.path.expanduser(name)):
        raise ModelNotFound(f"--model {local}: no such directory")
    looked = []
    for mirror in [m for m in os.environ.get(MIRROR_ENV, "").split(os.pathsep) if m]:
        candidate = os.path.join(mirror, name, subfolder)
        if _is_model_dir(candidate):
            return candidate
        looked.append(candidate)
    snapshot = _cached_snapshot(name)
    if snapshot:
        candidate = os.path.join(snapshot, subfolder)
        if _is_model_dir(candidate):
            return candidate
        looked.append(candidate)
    where = "; ".join(looked) or f"no mirror ({MIRROR_ENV} unset) and no cached snapshot of {name}"
    fetch = f"hf download {name}" + (f" --include '{subfolder}/*'" if subfolder else "")
    raise ModelNotFound(f"--model {name}" + (f" --subfolder {subfolder}" if subfolder else "") +
                        f": not a local directory, and not found offline (looked in: {where}). Nothing is "
                        f"downloaded here: run `{fetch}` where there is internet, or copy it to "
                        f"<mirror>/{name}/{subfolder or ''} and set {MIRROR_ENV}")


def _cached_snapshot(repo_id: str) -> Optional[str]:
    """The Hugging Face cache's snapshot of ``repo_id`` (the revision ``main`` points to), if any."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:
        return None
    try:
        return snapshot_download(repo_id, local_files_only=True, cache_dir=os.environ.get("HF_HUB_CACHE") or None)
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None


def add_model_arguments(parser, help_text: str) -> None:
    """``--model`` and ``--subfolder``, as every command that reads a checkpoint takes them."""
    parser.add_argument("--model", required=True, help=f"{help_text}: a local directory, or a hub repository id "
                        "(org/name, or org/name:subfolder) found offline (docs/released.md)")
    parser.add_argument("--subfolder", help="the checkpoint's folder inside the repository (the released layout, "
                        "e.g. <mixture>/midtrain/<run>/checkpoint-387 or <mixture>/rl/<run>/actor/huggingface)")


def model_path(args) -> str:
    """The local directory ``--model``/``--subfolder`` name (raises ``ModelNotFound``, a ValueError)."""
    return resolve_model(args.model, args.subfolder)


def main(argv: list[str] | None = None) -> int:
    import argparse

    class _Help(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
        pass

    p = argparse.ArgumentParser(prog="interplay-verl init-model", description=init_model.__doc__,
                                epilog=__doc__.split("\n\n", 2)[2], formatter_class=_Help)
    p.add_argument("--tokenizer", required=True, help="Hugging Face tokenizer directory")
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--size", default="0.2m", choices=sorted(SIZES), help="100m: the paper's model; 1.2m: the tiny profile's")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    init_model(args.tokenizer, args.out, args.size, args.seed)
    print(args.out)
    return 0
