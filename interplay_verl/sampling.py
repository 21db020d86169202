"""Sampling completions of a checkpoint: one interface for evaluation and the offline filter.

Both ask the same question, "n completions of each of these prompts from this model", and
must get the same answer from any backend. A backend is a class registered in ``BACKENDS``
under a name; ``sampler(model, backend)`` picks one:

- ``replicas`` (the default): verl's rollout replicas started standalone on the Ray cluster,
  vLLM on GPU nodes and the ``cpu`` replica elsewhere (``interplay_verl.replicas``);
- ``hf``: one in-process transformers generator, for debugging and as the benchmark baseline.

Every backend returns, for each prompt, a list of its completions decoded as our RL reward
managers decode them (``rewards.decoding.completion_text``: special tokens dropped, the six
tags kept), so what is scored here is what RL is rewarded on. A sampler holds its model (and, for replicas, devices) until ``close()``.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Optional, Protocol
from collections.abc import Callable, Sequence

BackendFactory = Callable[..., "Sampler"]  # (model_dir, batch_size=..., **placement) -> a Sampler
BACKENDS: dict[str, BackendFactory] = {}


class Sampler(Protocol):
    def sample(self, prompts: Sequence[str], n: int | Sequence[int] = 1, *, max_new_tokens: int = 256,
               temperature: float = 0.0, top_p: float = 1.0, seed: int = 0, quiet: bool = False) -> list[list[str]]:
        """``n`` completions per prompt (or ``n[i]`` for prompt i), seeded: same seed, same texts."""

    served: list[int]  # samples generated, per replica (one entry for an in-process backend)

    def close(self) -> None:
        """Free what the sampler holds (a replica's devices); it cannot sample afterwards."""


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
    """One in-process generator: transformers ``generate`` through the CPU rollout's batcher.

    Placement options (replica count, devices) do not apply to one in-process model."""

    def __init__(self, model_dir: str, batch_size: int = 64, **placement):
        self.model_dir, self.batch_size = model_dir, batch_size
        self.served = [0]  # samples generated (one "replica": this process)

    def close(self) -> None:
        _hf_model.cache_clear()

    def sample(self, prompts, n=1, *, max_new_tokens=256, temperature=0.0, top_p=1.0, seed=0, quiet=False):
        import torch
        from tqdm import tqdm

        from interplay_verl.backends.cpu.generation import SamplingParams
        from interplay_verl.rewards.decoding import completion_text

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
                    texts[i] = completion_text(tokenizer, done.token_ids)
                progress.update(len(chunk))
                self.served[0] += len(chunk)
        return _regroup(texts, counts)


@functools.lru_cache(maxsize=1)
def _hf_model(model_dir: str):
    """Tokenizer and generator, loaded once for the rounds of sampling a filter or evaluation runs."""
    from interplay_verl.backends.cpu.generation import HFGenerator
    from interplay_verl.tokenizer import load_tokenizer

    return load_tokenizer(model_dir), HFGenerator.from_pretrained(model_dir)


def request_seed(seed: int, index: int) -> int:
    """The seed of request ``index`` of a call seeded ``seed``: 1,024 apart within a call (room for
    n <= 1,024 samples each) and 2^34 apart between call seeds (mod 2^29), so no two samples of
    a run share one; 16M requests per call at most. Fits torch's 64-bit seeds."""
    if not 0 <= index < 2 ** 24:
        raise ValueError(f"request index {index}: at most 2^24 requests per call")
    return ((seed % 2 ** 29) * 2 ** 24 + index) * 2 ** 10


def pick_backend(backend: str = "auto") -> str:
    """``auto`` is verl's rollout replicas; a name must be a registered backend."""
    import interplay_verl.replicas  # noqa: F401  (registers "replicas")

    if backend == "auto":
        return "replicas"
    if backend not in BACKENDS:
        raise ValueError(f"--backend {backend!r}: choose auto or one of {', '.join(BACKENDS)}")
    return backend


def sampler(model_dir: str, backend: str = "auto", batch_size: Optional[int] = None, **placement) -> Sampler:
    """The backend's sampler for ``model_dir``. ``placement``: the replicas' ``device``,
    ``n_replicas``, ``gpus_per_node``, ``tensor_parallel``, ``max_model_len``, ``seed``."""
    return BACKENDS[pick_backend(backend)](model_dir, batch_size=batch_size or 64, **placement)


@contextlib.contextmanager
def session(model_dir: str, backend: str = "auto", batch_size: Optional[int] = None, **placement):
    """A sampler for the length of a stage: built on entry, closed (replicas ended) on exit."""
    model_sampler = sampler(model_dir, backend, batch_size, **placement)
    try:
        yield model_sampler
    finally:
        model_sampler.close()


def flat_samples(sampler: Sampler, prompts: Sequence[str], n: int | Sequence[int] = 1, **params) -> list[str]:
    """All completions in one flat list, prompt by prompt (the shape scoring works on)."""
    return [text for group in sampler.sample(prompts, n, **params) for text in group]


def add_sampling_arguments(parser) -> None:
    """The backend and replica placement options every sampling command takes."""
    parser.add_argument("--backend", default="auto", help="replicas (verl's rollout replicas on the Ray cluster: "
                        "vLLM on GPU, cpu otherwise; what auto picks) or hf (one in-process generator)")
    parser.add_argument("--replicas", type=int, default=1,
                        help="rollout replicas (the paper's setup: every device of the cluster / tensor parallel)")
    parser.add_argument("--tensor-parallel", type=int, default=1, help="devices per replica (1 for a ~100M model)")
    parser.add_argument("--device", choices=["cpu", "gpu"], help="replica device (default: gpu if one is visible)")


def placement(args) -> dict:
    return {"n_replicas": args.replicas, "tensor_parallel": args.tensor_parallel, "device": args.device,
            "seed": args.seed}
