"""Token-in, token-out generation on a transformers model, batched like a serving engine.

verl's rollout talks to an inference server one request at a time (one prompt, one sample),
hundreds of them concurrently. Generating per request wastes most of a CPU step on Python
overhead and one-row matmuls, so ``RequestBatcher`` collects whatever is queued and
``HFGenerator.generate_batch`` serves it as one left-padded batch per set of identical sampling
settings: through the lean Qwen2 loop of ``qwen2_decoding.py`` where it reproduces the model,
else through transformers' ``generate``. Semantics follow vLLM, which is what the same config drives on
a GPU: temperature 0 is greedy, top_k <= 0 and top_p = 1 disable those filters, output
tokens include the EOS token that stopped them, log-probs are the raw model
log-probabilities of the sampled tokens (vLLM's default ``raw_logprobs``), and a request's
``seed`` fixes its own sample stream whatever else shares its batch.
"""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Optional
from collections.abc import Callable, Sequence

import torch

from interplay_verl.backends.cpu.qwen2_decoding import Qwen2Decoder, decode, filtered_probs


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    max_tokens: int = 16
    logprobs: bool = False
    repetition_penalty: float = 1.0
    ignore_eos: bool = False
    seed: Optional[int] = None  # this request's own random stream (vLLM's per-request seed)

    @classmethod
    def from_request(cls, params: dict[str, Any], default_max_tokens: int, max_possible_tokens: int) -> SamplingParams:
        """Build from the dict verl's agent loop sends to vLLM (same keys, same defaults)."""
        params = dict(params or {})
        max_tokens = params.pop("max_tokens", params.pop("max_new_tokens", default_max_tokens))
        if max_possible_tokens < 1:
            raise ValueError(
                f"prompt leaves no room to generate: max_model_len allows {max_possible_tokens} new tokens"
            )
        return cls(
            temperature=float(params.get("temperature", 1.0)),
            top_p=float(params.get("top_p", 1.0)),
            top_k=int(params.get("top_k") if params.get("top_k") is not None else -1),
            max_tokens=max(1, min(int(max_tokens), max_possible_tokens)),
            logprobs=bool(params.get("logprobs", False)),
            repetition_penalty=float(params.get("repetition_penalty") or 1.0),
            ignore_eos=bool(params.get("ignore_eos", False)),
            seed=None if params.get("seed") is None else int(params["seed"]),
        )

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    def batch_key(self) -> tuple:
        """Requests whose keys are equal can share one ``generate`` call."""
        if self.greedy:
            return ("greedy", self.repetition_penalty, self.ignore_eos)
        return ("sample", self.temperature, self.top_p, self.top_k, self.repetition_penalty, self.ignore_eos)


@dataclass
class Completion:
    token_ids: list[int]
    log_probs: Optional[list[float]]
    finish_reason: str  # "stop" (EOS) or "length"


class HFGenerator:
    """Owns one causal LM and serves batches of (prompt_ids, SamplingParams)."""

    def __init__(self, model: torch.nn.Module, eos_token_ids: Sequence[int], pad_token_id: int):
        self.model = model.eval()
        self.eos_token_ids = [int(t) for t in eos_token_ids]
        self.pad_token_id = int(pad_token_id)
        self._lock = threading.Lock()  # generation and weight loading never overlap
        self.generate_calls = 0
        # transformers' arithmetic at a fraction of generate()'s per-token cost, for the models it
        # reproduces (qwen2_decoding.py); INTERPLAY_CPU_LEAN_DECODE=0 keeps generate() for all
        self.lean = Qwen2Decoder.supports(self.model) and os.environ.get("INTERPLAY_CPU_LEAN_DECODE", "1") != "0"

    @classmethod
    def from_pretrained(cls, path: str, dtype: torch.dtype = torch.float32, trust_remote_code: bool = False) -> HFGenerator:
        from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=dtype, attn_implementation="sdpa", trust_remote_code=trust_remote_code
        )
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        eos: list[int] = []
        try:
            gen_eos = GenerationConfig.from_pretrained(path).eos_token_id
        except OSError:
            gen_eos = None
        for candidate in (gen_eos, model.config.eos_token_id, tokenizer.eos_token_id):
            if candidate is None:
                continue
            for t in candidate if isinstance(candidate, (list, tuple)) else [candidate]:
                if t not in eos:
                    eos.append(int(t))
        if not eos:
            raise ValueError(f"{path}: no eos_token_id in generation config, model config or tokenizer")
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
        return cls(model, eos, pad)

    # ------------------------------------------------------------------ generation
    def generate_batch(self, requests: Sequence[tuple[Sequence[int], SamplingParams]]) -> list[Completion]:
        results: list[Optional[Completion]] = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        for i, (_, params) in enumerate(requests):
            groups.setdefault(params.batch_key(), []).append(i)
        with self._lock:
            for indices in groups.values():
                for i, completion in zip(indices, self._generate_group([requests[i] for i in indices])):
                    results[i] = completion
        return results  # type: ignore[return-value]

    @torch.no_grad()
    def _generate_group(self, requests: Sequence[tuple[Sequence[int], SamplingParams]]) -> list[Completion]:
        params = requests[0][1]
        prompts = [list(map(int, p)) for p, _ in requests]
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):  # left padding: every row ends at the same column
            input_ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            attention_mask[row, width - len(prompt) :] = 1

        max_new = max(p.max_tokens for _, p in requests)
        # seeded requests sample from one generator per row (vLLM's per-request seed)
        seeded = not params.greedy and any(p.seed is not None for _, p in requests)
        want_logprobs = any(p.logprobs for _, p in requests)
        self.generate_calls += 1
        if self.lean and params.repetition_penalty == 1.0:
            new_tokens, logprobs = decode(
                self.model, input_ids, attention_mask, max_new, [p.max_tokens for _, p in requests],
                set(self.eos_token_ids), stop_at_eos=not params.ignore_eos, greedy=params.greedy,
                temperature=params.temperature, top_k=params.top_k, top_p=params.top_p,
                generators=_row_generators([p.seed for _, p in requests]) if seeded else None,
                logprobs=want_logprobs)
        else:
            new_tokens, logprobs = self._generate_hf(input_ids, attention_mask, requests, max_new, seeded, want_logprobs)

        eos = set(self.eos_token_ids)
        completions = []
        for row, (_, p) in enumerate(requests):
            tokens = new_tokens[row, : p.max_tokens].tolist()
            finish = "length"
            if not p.ignore_eos:
                for t, tok in enumerate(tokens):
                    if tok in eos:
                        tokens, finish = tokens[: t + 1], "stop"
                        break
            lp = logprobs[row, : len(tokens)].tolist() if p.logprobs and logprobs is not None else None
            completions.append(Completion(tokens, lp, finish))
        return completions

    def _generate_hf(self, input_ids, attention_mask, requests, max_new: int, seeded: bool, want_logprobs: bool):
        """transformers' ``generate``: (new tokens [rows, steps], their raw log-probs or None)."""
        from transformers import GenerationConfig

        params = requests[0][1]
        # seeded requests sample in our own processor and generate() then keeps the one token it
        # left, so it runs greedy with no warpers of its own
        warp = not params.greedy and not seeded
        config = GenerationConfig(
            max_new_tokens=max_new,
            min_new_tokens=max_new if params.ignore_eos else 0,
            do_sample=warp,
            temperature=params.temperature if warp else None,
            top_p=params.top_p if warp and params.top_p < 1.0 else None,
            # 0, not None, when sampling: generate() fills a None top_k with its default, 50
            top_k=(params.top_k if params.top_k > 0 else 0) if warp else None,
            repetition_penalty=None if params.repetition_penalty == 1.0 else params.repetition_penalty,
            eos_token_id=None if params.ignore_eos else self.eos_token_ids,
            pad_token_id=self.pad_token_id,
            output_logits=True,
            return_dict_in_generate=True,
        )
        processors = [_RowSampler(params, [p.seed for _, p in requests])] if seeded else None
        out = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config,
                                  logits_processor=processors)
        new_tokens = out.sequences[:, input_ids.shape[1]:]
        if not want_logprobs:
            return new_tokens, None
        # logits[t] are the raw (pre-processor) logits that produced token t
        logprobs = torch.stack(out.logits, dim=1).float().log_softmax(dim=-1)
        return new_tokens, logprobs.gather(-1, new_tokens[..., None])[..., 0]

    # ------------------------------------------------------------------ weights
    @torch.no_grad()
    def load_weights(self, named_tensors: dict[str, torch.Tensor]) -> int:
        """Copy trainer weights in place; unknown names are an error, not a silent skip."""
        # state_dict names every alias of a tied weight (lm_head.weight and embed_tokens.weight)
        targets = self.model.state_dict(keep_vars=True)
        unknown = [n for n in named_tensors if n not in targets]
        if unknown:
            raise KeyError(f"rollout model has no parameter(s) {unknown[:5]} (of {len(unknown)} unknown)")
        with self._lock:
            for name, tensor in named_tensors.items():
                target = targets[name]
                target.data.copy_(tensor.to(dtype=target.dtype))
        return len(named_tensors)


def _mix32(seed: int) -> int:
    """A 64-bit seed folded to the 32 bits torch's CPU generator (mt19937) actually uses, mixing
    every bit in (splitmix64's finaliser): seeds that differ only above bit 32 still differ."""
    z = (seed + 0x9E3779B97F4A7C15) % 2 ** 64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2 ** 64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2 ** 64
    return (z ^ (z >> 31)) >> 32


def _row_generators(seeds: Sequence[Optional[int]]) -> list[torch.Generator]:
    """One generator per row; a row with no seed draws its generator's seed from torch's global
    stream (still reproducible under ``torch.manual_seed``)."""
    generators = []
    for seed in seeds:
        if seed is None:
            seed = int(torch.randint(0, 2 ** 62, (1,)))
        generators.append(torch.Generator().manual_seed(_mix32(int(seed))))
    return generators


class _RowSampler:
    """A logits processor that draws each row's next token from that row's own generator.

    It applies the group's temperature, top-k and top-p as vLLM does, samples, and returns
    scores where only the drawn token is finite, so a greedy ``generate`` emits exactly it.
    """

    def __init__(self, params: SamplingParams, seeds: Sequence[Optional[int]]):
        self.params = params
        self.generators = _row_generators(seeds)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        probs = filtered_probs(scores, self.params.temperature, self.params.top_k, self.params.top_p)
        out = torch.full_like(scores, float("-inf"))
        for row, generator in enumerate(self.generators):
            token = torch.multinomial(probs[row], 1, generator=generator)
            out[row, token] = 0.0
        return out


@dataclass
class _Pending:
    request: Any
    future: asyncio.Future


@dataclass
class RequestBatcher:
    """Coalesces concurrent ``submit`` calls into one ``run_batch`` call per turn.

    While a batch runs (in a thread, so the event loop keeps accepting requests), new
    requests queue up; the next turn takes all of them, up to ``max_batch_size``. A turn
    starts once requests stop arriving for ``collect_window_s`` (at most ``max_wait_s`` after
    the first): verl's agent loop sends a step's requests over ~0.1 s, and a turn started on
    the first few would generate twice, a small batch and then the rest, at ~1.4x the time of
    one batch (docs/rl.md#grpo-speed-on-cpu).
    """

    run_batch: Callable[[list[Any]], list[Any]]
    max_batch_size: int = 1024
    collect_window_s: float = 0.05  # gaps of up to 55 ms were seen between one step's arrivals
    max_wait_s: float = 0.5
    batch_sizes: list[int] = field(default_factory=list)

    def __post_init__(self):
        self._pending: list[_Pending] = []
        self._wakeup: Optional[asyncio.Event] = None
        self._task: Optional[asyncio.Task] = None

    async def submit(self, request: Any) -> Any:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._serve())
        future = loop.create_future()
        self._pending.append(_Pending(request, future))
        self._wakeup.set()
        return await future

    async def _collect(self) -> None:
        """Wait until no request has arrived for one window, or ``max_wait_s`` has passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        seen = -1
        while len(self._pending) != seen and len(self._pending) < self.max_batch_size and loop.time() < deadline:
            seen = len(self._pending)
            await asyncio.sleep(self.collect_window_s)

    async def _serve(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await self._collect()
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch_size], self._pending[self.max_batch_size :]
                try:
                    results = await asyncio.to_thread(self.run_batch, [p.request for p in batch])
                except Exception as exc:  # every waiter learns why, none hangs
                    for p in batch:
                        if not p.future.done():
                            p.future.set_exception(exc)
                    continue
                self.batch_sizes.append(len(batch))
                for p, result in zip(batch, results):
                    if not p.future.done():
                        p.future.set_result(result)
