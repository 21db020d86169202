"""A lean decoding loop for the project's Qwen2 models on CPU: transformers' arithmetic, a fraction
of its per-token overhead.

At the sizes a CPU trains (the tiny profile's 0.8M parameters), a decoding step of transformers'
``generate`` costs ~3-4 ms, nearly all of it Python and ~150 small tensor ops (a mask and position
embeddings rebuilt per step, the KV cache concatenated, three projections where one would do,
logits processors); the arithmetic is ~50 MFLOP. On 2 cores that made sampling the largest part of
a GRPO step and of a pass@k evaluation (docs/rl.md#grpo-speed-on-cpu).

``Qwen2Decoder`` runs the same model, from its own parameters (read at every batch, so weights
loaded in place are used at once), as transformers computes it in float32: RMSNorm, RoPE,
grouped-query SDPA, SiLU MLP, in the same order. What changes is bookkeeping: fused q/k/v and
gate/up projections, one preallocated KV cache, the cos/sin table and the mask built once per
batch. Logits equal transformers' to float rounding (tests/test_cpu_rollout.py). It serves only
what it reproduces: a float32 ``Qwen2ForCausalLM`` with default RoPE and full attention; any other
model goes through ``generate``.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))  # as Qwen2RMSNorm, in float32


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Qwen2Decoder:
    """Prefill and one-token steps over a fixed batch, with its own KV cache."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        cfg = model.config
        self.heads, self.kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.eps = float(cfg.rms_norm_eps)

    @staticmethod
    def supports(model: torch.nn.Module) -> bool:
        cfg = getattr(model, "config", None)
        if type(model).__name__ != "Qwen2ForCausalLM" or cfg is None:
            return False
        rope = getattr(cfg, "rope_parameters", None) or {}
        layer_types = getattr(cfg, "layer_types", None) or ["full_attention"]
        return (rope.get("rope_type", "default") == "default" and cfg.hidden_act == "silu"
                and not getattr(cfg, "use_sliding_window", False)
                and all(t == "full_attention" for t in layer_types)
                and all(p.dtype == torch.float32 for p in model.parameters()))

    def start(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new: int) -> torch.Tensor:
        """Prefill left-padded prompts; returns the logits for each row's first new token."""
        rows, width = input_ids.shape
        self.width, total = width, width + max_new
        base = self.model.model
        self.layers = []
        for layer in base.layers:
            attn, mlp = layer.self_attn, layer.mlp
            self.layers.append((
                layer.input_layernorm.weight,
                torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight]),
                torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias]),
                attn.o_proj.weight,
                layer.post_attention_layernorm.weight,
                torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]),
                mlp.down_proj.weight,
            ))
        self.cache = [(torch.zeros(rows, self.kv_heads, total, self.head_dim),
                       torch.zeros(rows, self.kv_heads, total, self.head_dim)) for _ in self.layers]
        # keys a row may attend to: its prompt (not the padding) and everything it generates
        self.valid = torch.cat([attention_mask.bool(), torch.ones(rows, max_new, dtype=torch.bool)], dim=1)
        positions = attention_mask.long().cumsum(-1) - 1
        self.next_position = positions[:, -1:] + 1
        freqs = torch.arange(total + 1, dtype=torch.float32)[:, None] * base.rotary_emb.inv_freq.float()[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos, self.sin = emb.cos(), emb.sin()
        causal = torch.ones(width, width, dtype=torch.bool).tril()
        # a padding query sees itself too: a row with nothing to attend to would be NaN
        mask = (self.valid[:, None, None, :width] & causal) | torch.eye(width, dtype=torch.bool)
        self.step = 0
        return self._forward(input_ids, positions.clamp(min=0), 0, mask)

    def advance(self, tokens: torch.Tensor) -> torch.Tensor:
        """Append one token per row; returns the logits for the next."""
        start = self.width + self.step
        self.step += 1
        positions = self.next_position
        self.next_position = positions + 1
        return self._forward(tokens[:, None], positions, start, self.valid[:, None, None, : start + 1])

    def _forward(self, ids: torch.Tensor, positions: torch.Tensor, start: int, mask: torch.Tensor) -> torch.Tensor:
        base, (rows, length) = self.model.model, ids.shape
        heads, kv_heads, dim = self.heads, self.kv_heads, self.head_dim
        groups = heads // kv_heads
        if length > 1 and groups > 1:
            mask = mask.repeat(1, 1, groups, 1)  # one block of query rows per query head of a group
        x = F.embedding(ids, base.embed_tokens.weight)
        cos, sin = self.cos[positions][:, None], self.sin[positions][:, None]
        end = start + length
        for (norm1, wqkv, bqkv, wo, norm2, wgu, wdown), (keys, values) in zip(self.layers, self.cache):
            q, k, v = F.linear(_rms_norm(x, norm1, self.eps), wqkv, bqkv).split(
                [heads * dim, kv_heads * dim, kv_heads * dim], dim=-1)
            q = q.view(rows, length, heads, dim).transpose(1, 2)
            k = k.view(rows, length, kv_heads, dim).transpose(1, 2)
            q = q * cos + _rotate_half(q) * sin
            keys[:, :, start:end] = k * cos + _rotate_half(k) * sin
            values[:, :, start:end] = v.view(rows, length, kv_heads, dim).transpose(1, 2)
            # the query heads that share a key/value head stacked as rows of one query: attention over
            # the cache as it is, where SDPA's own grouped-query path would copy it per query head
            q = q.reshape(rows, kv_heads, groups * length, dim)
            out = F.scaled_dot_product_attention(q, keys[:, :, :end], values[:, :, :end], attn_mask=mask,
                                                 scale=dim ** -0.5)
            out = out.view(rows, heads, length, dim)
            x = x + F.linear(out.transpose(1, 2).reshape(rows, length, heads * dim), wo)
            gate, up = F.linear(_rms_norm(x, norm2, self.eps), wgu).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate) * up, wdown)
        return F.linear(_rms_norm(x[:, -1], base.norm.weight, self.eps), self.model.lm_head.weight)


def filtered_probs(logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """vLLM's sampling distribution: temperature, then top-k (<= 0: off), then top-p (1: off)."""
    logits = logits.float() / temperature
    if top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        order = logits.sort(dim=-1, descending=True)
        probs = order.values.softmax(-1)
        drop = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order.indices, probs.cumsum(-1) - probs >= top_p)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits.softmax(-1)


def _inverse_cdf(probs: torch.Tensor) -> torch.Tensor:
    """One draw per row from ``probs`` with one uniform per row, where ``torch.multinomial`` costs as
    much as a decoding step (0.3 ms for 32 x 585). ``right=True``: a token of probability 0 never wins."""
    cdf = probs.cumsum(-1)
    total = cdf[:, -1:]
    if not bool((torch.isfinite(total) & (total > 0)).all()):  # as torch.multinomial refuses them
        raise ValueError("sampling distribution is not finite and positive (NaN logits, or top_p <= 0?)")
    u = torch.rand(probs.shape[0], 1) * total
    return torch.searchsorted(cdf, u, right=True).clamp_(max=probs.shape[-1] - 1)[:, 0]


def decode(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new: int,
           limits: list[int], eos: set[int], stop_at_eos: bool, greedy: bool, temperature: float = 1.0,
           top_k: int = -1, top_p: float = 1.0, generators: Optional[list[torch.Generator]] = None,
           logprobs: bool = False) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Sample up to ``max_new`` tokens per row: (tokens [rows, steps], raw log-probs of them or None).

    Rows stop at their own ``limits`` (max tokens) or, with ``stop_at_eos``, after an EOS token;
    the loop ends when every row has. Unseeded rows draw from torch's global stream; ``generators``
    (one per row) give each row its own stream, whatever its batch."""
    decoder = Qwen2Decoder(model)
    logits = decoder.start(input_ids, attention_mask, max_new)
    rows = input_ids.shape[0]
    done = torch.zeros(rows, dtype=torch.bool)
    limit = torch.tensor(limits)
    eos_ids = torch.tensor(sorted(eos), dtype=torch.long)
    tokens, picked = [], []
    for step in range(max_new):
        if greedy:
            token = logits.argmax(-1)
        else:
            probs = filtered_probs(logits, temperature, top_k, top_p)
            if generators is None:
                token = _inverse_cdf(probs)
            else:
                token = torch.cat([torch.multinomial(probs[r], 1, generator=g) for r, g in enumerate(generators)])
        tokens.append(token)
        if logprobs:
            picked.append(logits.float().log_softmax(-1).gather(-1, token[:, None])[:, 0])
        if stop_at_eos:
            done |= torch.isin(token, eos_ids)
        done |= limit <= step + 1
        if bool(done.all()) or step + 1 == max_new:
            break
        logits = decoder.advance(token)
    return torch.stack(tokens, dim=1), (torch.stack(picked, dim=1) if logprobs else None)
