"""The fixes verl 0.9.1 needs to train on a CPU, each a small patch from outside verl.

Applied by ``backends.cpu.activate()`` only when ``VERL_PLATFORM=cpu`` selects this platform;
each is idempotent (marked on the function it installs) because verl imports the plugin in
every process, sometimes more than once.
"""

from __future__ import annotations

import functools

from interplay_verl.backends.cpu.platform import PLATFORM_NAME


def _dedupe_backend(backend: str | None) -> str | None:
    """'cpu:gloo,cpu:gloo' -> 'cpu:gloo'.

    verl builds ``f"cpu:gloo,{device}:{backend}"``, which torch rejects when device is cpu.
    """
    if not backend or "," not in backend:
        return backend
    seen: dict[str, str] = {}
    for part in backend.split(","):
        device, _, name = part.partition(":")
        seen.setdefault(device.strip(), name.strip())
    return ",".join(f"{d}:{n}" if n else d for d, n in seen.items())


def patch_init_process_group() -> None:
    import torch.distributed as dist

    original = dist.init_process_group
    if getattr(original, "_interplay_dedupe", False):
        return

    @functools.wraps(original)
    def init_process_group(*args, **kwargs):
        if args:
            args = (_dedupe_backend(args[0]), *args[1:])
        if "backend" in kwargs:
            kwargs["backend"] = _dedupe_backend(kwargs["backend"])
        return original(*args, **kwargs)

    init_process_group._interplay_dedupe = True
    dist.init_process_group = init_process_group


def patch_pin_memory() -> None:
    """Pinned memory exists only to speed host-to-accelerator copies; with no accelerator
    torch raises instead. verl pins unconditionally (e.g. FSDP2's CPUOffloadPolicy for the
    reference model), so on this platform pinning returns the tensor as it is."""
    import torch

    if torch.cuda.is_available() or getattr(torch.Tensor.pin_memory, "_interplay_noop", False):
        return

    def pin_memory(self, *args, **kwargs):
        return self

    pin_memory._interplay_noop = True
    torch.Tensor.pin_memory = pin_memory


def patch_logprobs() -> None:
    """One vectorised log-softmax instead of verl's per-token Python loop.

    Without flash-attn's cross entropy (a GPU kernel) verl computes log-probs with
    ``logprobs_from_logits_v2``, which loops over the rows of the flattened batch to save
    accelerator memory: ~1,000 tiny ops and autograd nodes per micro-batch, a third of a CPU
    training step. Same math, same dtype, one op.
    """
    import torch
    import torch.nn.functional as F
    import verl.utils.torch_functional as tf

    if getattr(tf.logprobs_from_logits_v2, "_interplay_vectorised", False):
        return

    def logprobs_from_logits_v2(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        picked = torch.gather(logits, dim=-1, index=labels.unsqueeze(-1)).squeeze(-1)
        if logits.dtype in (torch.float32, torch.float64):
            return picked - torch.logsumexp(logits, dim=-1)
        return F.log_softmax(logits, dim=-1).gather(dim=-1, index=labels.unsqueeze(-1)).squeeze(-1)

    logprobs_from_logits_v2._interplay_vectorised = True
    tf.logprobs_from_logits_v2 = logprobs_from_logits_v2


def patch_sdpa_gqa() -> None:
    """Grouped-query attention inside SDPA on CPU, with or without a mask.

    transformers expands the key/value heads to the query heads (a copy of the whole KV cache
    at every decoding step) unless the mask is None, because on CUDA SDPA's GQA path with a mask
    falls back to its math kernel. On CPU that fallback is what runs anyway and it takes
    ``enable_gqa``: same result to the bit, a third of a left-padded generation saved
    (docs/rl.md#grpo-speed-on-cpu). ``INTERPLAY_CPU_SDPA_GQA=0`` leaves transformers as it is
    (benchmarks/grpo_step.py's "before" arm).
    """
    import os

    import torch
    import transformers.integrations.sdpa_attention as sdpa

    original = sdpa.use_gqa_in_sdpa
    if getattr(original, "_interplay_cpu", False) or torch.cuda.is_available():
        return
    if os.environ.get("INTERPLAY_CPU_SDPA_GQA", "1") == "0":
        return

    @functools.wraps(original)
    def use_gqa_in_sdpa(attention_mask, key) -> bool:
        return key.device.type == "cpu" or original(attention_mask, key)

    use_gqa_in_sdpa._interplay_cpu = True
    sdpa.use_gqa_in_sdpa = use_gqa_in_sdpa


def register_engines() -> None:
    """Make verl's FSDP engines resolvable for device 'cpu' (they are registered for cuda/npu)."""
    from verl.workers.engine.base import EngineRegistry
    from verl.workers.engine.fsdp.transformer_impl import FSDPEngineWithLMHead, FSDPEngineWithValueHead

    for model_type, engine in (("language_model", FSDPEngineWithLMHead), ("value_model", FSDPEngineWithValueHead)):
        by_backend = EngineRegistry._engines.setdefault(model_type, {})
        for backend in ("fsdp", "fsdp2"):
            if PLATFORM_NAME not in by_backend.get(backend, {}):
                EngineRegistry.register(model_type=model_type, backend=backend, device=PLATFORM_NAME)(engine)
