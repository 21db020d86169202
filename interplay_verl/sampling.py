"""Sampling completions of a checkpoint: one interface for evaluation and the offline filter.

Both ask the same question, "n completions of each of these prompts from this model", and
must get the same answer from any backend. A backend is a class registered in ``BACKENDS``
under a name; ``sampler(model, backend)`` picks one (``auto``: vLLM when it is installed and a
GPU is visible, the CPU generator otherwise). Every backend returns, for each prompt, a list
of its completions decoded as verl's reward managers decode them (``skip_special_tokens=True``),
so what is scored here is what RL is rewarded on.
"""

from __future__ import annotations

import functools
from typing import Optional, Protocol
from collections.abc import Callable, Sequence

BackendFactory = Callable[..., "Sampler"]  # (model_dir, batch_size=...) -> a Sampler
BACKENDS: dict[str, BackendFactory] = {}


class Sampler(Protocol):
    def sample(self, prompts: Sequence[str], n: int | Sequence[int] = 1, *, max_new_tokens: int = 256,
               temperature: float = 0.0, top_p: float = 1.0, seed: int = 0, quiet: bool = False) -> list[list[str]]:
        """``n`` completions per prompt (or ``n[i]`` for prompt i), seeded: same seed, same texts."""


def register_backend(name: str) -> Callable[[BackendFactory], BackendFactory]:
    def add(factory: BackendFactory) -> BackendFactory:
        BACKENDS[name] = factory
        return factory
    return add


def _counts(prompts: Sequence[str], n: int | Sequence[int]) -> list[int]:
    counts = [n] * len(prompts) if isinstance(n, int) else [int(c) for c in n]
    if len(counts) != len(prompts) or any(c < 0 for c in counts):
        raise ValueError(f"n: need one non-negative count per prompt ({len(prompts)} prompts), got {n!r}")
    return counts


def _regroup(flat: list[str], counts: list[int]) -> list[list[str]]:
    out, at = [], 0
    for c in counts:
        out.append(flat[at:at + c])
        at += c
    return out


@register_backend("hf")
class HFSampler:
    """The CPU path: transformers ``generate`` through the CPU rollout's batched generator."""

    def __init__(self, model_dir: str, batch_size: int = 64):
        self.model_dir, self.batch_size = model_dir, batch_size

    def sample(self, prompts, n=1, *, max_new_tokens=256, temperature=0.0, top_p=1.0, seed=0, quiet=False):
        import torch
        from tqdm import tqdm

        from interplay_verl.backends.cpu.generation import SamplingParams

        counts = _counts(prompts, n)
        flat = [p for p, c in zip(prompts, counts) for _ in range(c)]
        tokenizer, generator = _hf_model(self.model_dir)
        params = SamplingParams(temperature=temperature, top_p=top_p, max_tokens=max_new_tokens)
        encoded = tokenizer(list(flat), add_special_tokens=False)["input_ids"]
        order = sorted(range(len(flat)), key=lambda i: len(encoded[i]))  # similar lengths pad less
        texts: list[str] = [""] * len(flat)
        torch.manual_seed(seed)
        with tqdm(total=len(flat), unit="sample", desc="generate", disable=quiet) as progress:
            for start in range(0, len(order), self.batch_size):
                chunk = order[start:start + self.batch_size]
                for i, done in zip(chunk, generator.generate_batch([(encoded[i], params) for i in chunk])):
                    texts[i] = tokenizer.decode(done.token_ids, skip_special_tokens=True)
                progress.update(len(chunk))
        return _regroup(texts, counts)


@functools.lru_cache(maxsize=1)
def _hf_model(model_dir: str):
    """Tokenizer and generator, loaded once for the rounds of sampling a filter or evaluation runs."""
    from transformers import AutoTokenizer

    from interplay_verl.backends.cpu.generation import HFGenerator

    return AutoTokenizer.from_pretrained(model_dir), HFGenerator.from_pretrained(model_dir)


@register_backend("vllm")
class VLLMSampler:
    """The GPU path: one vLLM engine; the n samples of a prompt are one request with ``n`` set, so
    they differ (one request per sample with one fixed seed would give n identical texts)."""

    def __init__(self, model_dir: str, batch_size: int = 64):
        self.model_dir = model_dir  # batch_size is the CPU generator's; vLLM schedules its own batches
        self._llm = None

    def sample(self, prompts, n=1, *, max_new_tokens=256, temperature=0.0, top_p=1.0, seed=0, quiet=False):
        from vllm import LLM, SamplingParams

        counts = _counts(prompts, n)
        if self._llm is None:
            self._llm = LLM(model=self.model_dir, seed=seed)
        wanted = [(p, c) for p, c in zip(prompts, counts) if c > 0]
        # vLLM seeds a request's c samples seed, seed + 1, ..., seed + c - 1: consecutive seeds per
        # request would hand neighbouring prompts (and the next call's) the same sample streams
        params = [SamplingParams(n=c, temperature=temperature, top_p=top_p, max_tokens=max_new_tokens,
                                 seed=request_seed(seed, i)) for i, (_, c) in enumerate(wanted)]
        outputs = iter(self._llm.generate([p for p, _ in wanted], params, use_tqdm=not quiet)) if wanted else iter(())
        return [[o.text for o in next(outputs).outputs] if c > 0 else [] for c in counts]


def request_seed(seed: int, index: int) -> int:
    """The seed of request ``index`` of a call seeded ``seed``: 1,024 apart within a call (room for
    n <= 1,024 samples each) and 2^34 apart between call seeds (mod 2^29), so no two samples of
    a run share one; 16M requests per call at most. Fits torch's 64-bit seeds."""
    if not 0 <= index < 2 ** 24:
        raise ValueError(f"request index {index}: at most 2^24 requests per call")
    return ((seed % 2 ** 29) * 2 ** 24 + index) * 2 ** 10


def pick_backend(backend: str = "auto") -> str:
    """vLLM when asked, or on "auto" when it is importable and a GPU is visible; else the CPU generator."""
    if backend != "auto" and backend not in BACKENDS:
        raise ValueError(f"--backend {backend!r}: choose auto or one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    from interplay_verl.devices import gpu_count

    try:
        import vllm  # noqa: F401
    except ImportError:
        return "hf"
    return "vllm" if gpu_count() > 0 else "hf"


def sampler(model_dir: str, backend: str = "auto", batch_size: Optional[int] = None) -> Sampler:
    """The backend's sampler for ``model_dir``; build it once per model (a vLLM engine holds the GPU)."""
    return BACKENDS[pick_backend(backend)](model_dir, batch_size=batch_size or 64)


def flat_samples(sampler: Sampler, prompts: Sequence[str], n: int | Sequence[int] = 1, **params) -> list[str]:
    """All completions in one flat list, prompt by prompt (the shape scoring works on)."""
    return [text for group in sampler.sample(prompts, n, **params) for text in group]
