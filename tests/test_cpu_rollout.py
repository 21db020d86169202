"""The CPU rollout: vLLM's sampling semantics on transformers' generate, batched."""

import asyncio

import pytest
import torch
from transformers import AutoTokenizer

from interplay_verl.testing.assets import split_document, toy_documents
from interplay_verl.backends.cpu.generation import HFGenerator, RequestBatcher, SamplingParams


@pytest.fixture(scope="module")
def gen(tiny_model):
    return HFGenerator.from_pretrained(tiny_model)


@pytest.fixture(scope="module")
def prompts(tiny_model):
    tok = AutoTokenizer.from_pretrained(tiny_model)
    # different lengths, so batching really left-pads
    texts = [split_document(d)[0] for d in toy_documents(5, seed=7)] + ["<question>", "Define"]
    return [tok(t, add_special_tokens=False)["input_ids"] for t in texts]


GREEDY = SamplingParams(temperature=0.0, max_tokens=12, logprobs=True, ignore_eos=True)


def test_batched_greedy_equals_one_at_a_time(gen, prompts):
    assert len({len(p) for p in prompts}) > 2
    batched = gen.generate_batch([(p, GREEDY) for p in prompts])
    for prompt, b in zip(prompts, batched):
        single = gen.generate_batch([(prompt, GREEDY)])[0]
        assert b.token_ids == single.token_ids
        assert b.log_probs == pytest.approx(single.log_probs, abs=1e-4)


def test_logprobs_are_raw_model_logprobs(gen, prompts):
    prompt = prompts[0]
    out = gen.generate_batch([(prompt, SamplingParams(temperature=0.7, top_k=20, max_tokens=10, logprobs=True, ignore_eos=True))])[0]
    with torch.no_grad():
        logits = gen.model(torch.tensor([prompt + out.token_ids])).logits[0].float()
    expected = logits.log_softmax(-1)[len(prompt) - 1 : -1].gather(1, torch.tensor(out.token_ids)[:, None])[:, 0]
    assert out.log_probs == pytest.approx(expected.tolist(), abs=1e-4)


def test_logprobs_only_when_asked(gen, prompts):
    out = gen.generate_batch([(prompts[0], SamplingParams(temperature=0, max_tokens=3, logprobs=False))])[0]
    assert out.log_probs is None


def test_max_tokens_per_request_in_one_batch(gen, prompts):
    reqs = [(prompts[0], SamplingParams(temperature=0, max_tokens=n, ignore_eos=True)) for n in (1, 5, 9)]
    out = gen.generate_batch(reqs)
    assert [len(o.token_ids) for o in out] == [1, 5, 9]
    assert all(o.finish_reason == "length" for o in out)
    assert out[1].token_ids == out[2].token_ids[:5]  # greedy prefixes agree


def test_eos_stops_and_is_included(gen, prompts):
    first = gen.generate_batch([(prompts[0], SamplingParams(temperature=0, max_tokens=1))])[0].token_ids[0]
    stopper = HFGenerator(gen.model, eos_token_ids=[first], pad_token_id=gen.pad_token_id)
    out = stopper.generate_batch([(prompts[0], SamplingParams(temperature=0, max_tokens=10))])[0]
    assert out.token_ids == [first] and out.finish_reason == "stop"
    ignored = stopper.generate_batch([(prompts[0], SamplingParams(temperature=0, max_tokens=10, ignore_eos=True))])[0]
    assert len(ignored.token_ids) == 10 and ignored.finish_reason == "length"


def test_top_k_1_and_tiny_top_p_are_greedy(gen, prompts):
    greedy = gen.generate_batch([(p, GREEDY) for p in prompts])
    torch.manual_seed(0)
    k1 = gen.generate_batch([(p, SamplingParams(temperature=1.3, top_k=1, max_tokens=12, ignore_eos=True)) for p in prompts])
    p0 = gen.generate_batch([(p, SamplingParams(temperature=1.3, top_p=1e-6, max_tokens=12, ignore_eos=True)) for p in prompts])
    assert [o.token_ids for o in k1] == [o.token_ids for o in greedy]
    assert [o.token_ids for o in p0] == [o.token_ids for o in greedy]


def test_temperature_samples_vary_and_follow_torch_seed(gen, prompts):
    params = SamplingParams(temperature=1.0, max_tokens=16, ignore_eos=True)
    torch.manual_seed(1)
    a = [o.token_ids for o in gen.generate_batch([(prompts[0], params)] * 8)]
    torch.manual_seed(1)
    b = [o.token_ids for o in gen.generate_batch([(prompts[0], params)] * 8)]
    assert a == b
    assert len({tuple(x) for x in a}) > 1  # the random tiny model is far from deterministic


def test_a_seeded_request_samples_the_same_whatever_its_batch(gen, prompts):
    """vLLM's per-request seed: the sample depends on the seed, not on the other rows of the batch."""
    def seeded(seed, **kw):
        return SamplingParams(temperature=1.0, max_tokens=12, ignore_eos=True, seed=seed, **kw)

    alone = gen.generate_batch([(prompts[0], seeded(2 ** 34 * 3 + 1))])[0].token_ids
    crowd = gen.generate_batch([(p, seeded(s)) for s, p in enumerate(prompts)] + [(prompts[0], seeded(2 ** 34 * 3 + 1))])
    assert crowd[-1].token_ids == alone
    high = gen.generate_batch([(prompts[0], seeded(2 ** 34 * 4 + 1))])[0].token_ids  # differs above bit 32 only
    assert high != alone
    draws = gen.generate_batch([(prompts[0], seeded(s)) for s in range(16)])
    assert len({tuple(d.token_ids) for d in draws}) >= 8
    greedy = gen.generate_batch([(prompts[0], GREEDY)])[0].token_ids
    assert gen.generate_batch([(prompts[0], seeded(5, top_k=1))])[0].token_ids == greedy


def test_mixed_sampling_settings_are_grouped(gen, prompts):
    before = gen.generate_calls
    reqs = [(p, GREEDY) for p in prompts[:3]] + [(p, SamplingParams(temperature=1.0, max_tokens=4)) for p in prompts[:3]]
    out = gen.generate_batch(reqs)
    assert gen.generate_calls - before == 2
    assert [o.token_ids for o in out[:3]] == [o.token_ids for o in gen.generate_batch([(p, GREEDY) for p in prompts[:3]])]


def test_sampling_params_follow_vllm_request_dict():
    p = SamplingParams.from_request(
        {"temperature": 0, "top_p": 1.0, "top_k": -1, "repetition_penalty": 1.0, "logprobs": True},
        default_max_tokens=64, max_possible_tokens=20,
    )
    assert (p.greedy, p.max_tokens, p.logprobs, p.top_k) == (True, 20, True, -1)
    assert SamplingParams.from_request({"max_tokens": 5}, 64, 100).max_tokens == 5
    assert SamplingParams.from_request({"max_new_tokens": 0}, 64, 100).max_tokens == 1
    with pytest.raises(ValueError, match="no room to generate"):
        SamplingParams.from_request({}, 64, 0)


def test_weight_loading_changes_outputs_and_rejects_unknown_names(tiny_model, prompts):
    g = HFGenerator.from_pretrained(tiny_model)
    before = g.generate_batch([(prompts[0], GREEDY)])[0]
    state = {k: torch.randn_like(v) for k, v in g.model.state_dict().items()}
    assert g.load_weights(state) == len(state)
    after = g.generate_batch([(prompts[0], GREEDY)])[0]
    assert after.log_probs != pytest.approx(before.log_probs, abs=1e-3)
    assert torch.equal(g.model.lm_head.weight, state["lm_head.weight"])  # tied alias accepted
    with pytest.raises(KeyError, match="no parameter"):
        g.load_weights({"model.layers.99.mlp.up_proj.weight": torch.zeros(1)})


def test_request_batcher_coalesces_concurrent_requests():
    calls = []

    def run_batch(reqs):
        calls.append(list(reqs))
        return [r * 10 for r in reqs]

    async def main():
        batcher = RequestBatcher(run_batch, max_batch_size=64)
        results = await asyncio.gather(*[batcher.submit(i) for i in range(40)])
        later = await batcher.submit(99)
        return results, later, batcher.batch_sizes

    results, later, sizes = asyncio.run(main())
    assert results == [i * 10 for i in range(40)] and later == 990
    assert sizes == [40, 1] and len(calls) == 2


def test_request_batcher_waits_for_requests_sent_over_time():
    """verl's agent loop sends a step's requests over ~0.1 s; they must still make one batch
    (before the fix: a batch of the first few, then one of the rest)."""
    def run_batch(reqs):
        return reqs

    async def main():
        batcher = RequestBatcher(run_batch, max_batch_size=64)

        async def late(i):
            await asyncio.sleep(0.03 * (i // 8))  # four waves, 30 ms apart
            return await batcher.submit(i)

        results = await asyncio.gather(*[late(i) for i in range(32)])
        return results, batcher.batch_sizes

    results, sizes = asyncio.run(main())
    assert results == list(range(32)) and sizes == [32]


def test_sampling_without_top_k_is_not_truncated(gen, prompts):
    """vLLM's top_k=-1 means every token; generate() would fill a missing top_k with 50."""
    assert gen.model.config.vocab_size > 100
    params = SamplingParams(temperature=50.0, max_tokens=1, ignore_eos=True)  # near uniform
    torch.manual_seed(0)
    first = {o.token_ids[0] for o in gen.generate_batch([(prompts[0], params)] * 400)}
    assert len(first) > 100
    torch.manual_seed(0)
    capped = {o.token_ids[0] for o in gen.generate_batch([(prompts[0], SamplingParams(
        temperature=50.0, top_k=50, max_tokens=1, ignore_eos=True))] * 400)}
    assert len(capped) <= 50


def test_request_batcher_respects_max_batch_and_propagates_errors():
    def run_batch(reqs):
        if -1 in reqs:
            raise RuntimeError("boom")
        return reqs

    async def main():
        batcher = RequestBatcher(run_batch, max_batch_size=8)
        ok = await asyncio.gather(*[batcher.submit(i) for i in range(20)])
        bad = await asyncio.gather(batcher.submit(-1), batcher.submit(3), return_exceptions=True)
        return ok, bad, batcher.batch_sizes

    ok, bad, sizes = asyncio.run(main())
    assert ok == list(range(20)) and sizes == [8, 8, 4]
    assert all(isinstance(e, RuntimeError) and "boom" in str(e) for e in bad)


@pytest.fixture
def ray_local():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, namespace="interplay-test")
    yield ray
    ray.shutdown()


@pytest.mark.slow  # a Ray cluster
def test_server_actor_batches_concurrent_generate_calls(ray_local, tiny_model, prompts):
    """The Ray actor verl's agent loop talks to: vLLM's generate() contract, batched."""
    import ray
    from omegaconf import OmegaConf

    from interplay_verl.backends.cpu.rollout import CPURolloutServer

    rollout = OmegaConf.create({"_target_": "verl.workers.config.RolloutConfig", "name": "cpu", "prompt_length": 128, "response_length": 16})
    model = OmegaConf.create({"_target_": "verl.workers.config.HFModelConfig", "path": tiny_model})
    server = ray.remote(CPURolloutServer).options(max_concurrency=1000).remote(config=rollout, model_config=model)
    params = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "repetition_penalty": 1.0, "logprobs": True}
    refs = [server.generate.remote(prompt_ids=prompts[i % 3], sampling_params=dict(params), request_id=str(i)) for i in range(16)]
    outs = ray.get(refs)
    stats = ray.get(server.stats.remote())
    assert sum(stats["batch_sizes"]) == 16 and max(stats["batch_sizes"]) >= 8, stats
    assert all(1 <= len(o.token_ids) <= 16 and len(o.log_probs) == len(o.token_ids) for o in outs)
    assert all(o.stop_reason == "completed" for o in outs)

    state = ray.get(server.update_weights.remote({"model.norm.weight": torch.full((64,), 2.0)}, 7))
    assert state == 1
    out = ray.get(server.generate.remote(prompt_ids=prompts[0], sampling_params=dict(params), request_id="x"))
    assert out.extra_fields["global_steps"] == 7


def test_grouped_query_attention_patch_is_exact(tiny_model, prompts):
    """SDPA's own GQA with a padding mask (our CPU patch) gives the logits of transformers'
    expanded key/value heads, bit for bit, on left-padded prompts of different lengths."""
    import transformers.integrations.sdpa_attention as sdpa
    from transformers import AutoModelForCausalLM

    from interplay_verl.backends.cpu import patches

    model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation="sdpa", dtype=torch.float32)
    assert model.config.num_key_value_heads < model.config.num_attention_heads  # the model is GQA
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[1] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    patches.patch_sdpa_gqa()
    patched = sdpa.use_gqa_in_sdpa
    assert patched(mask, torch.zeros(1)) and getattr(patched, "_interplay_cpu", False)
    with torch.no_grad():
        gqa = model(input_ids=ids, attention_mask=mask).logits
        sdpa.use_gqa_in_sdpa = patched.__wrapped__
        try:
            expanded = model(input_ids=ids, attention_mask=mask).logits
        finally:
            sdpa.use_gqa_in_sdpa = patched
    assert torch.equal(gqa[mask.bool()], expanded[mask.bool()])


def test_lean_decoding_reproduces_generate(gen, prompts, monkeypatch):
    """The lean Qwen2 loop (qwen2_decoding.py) against transformers' generate on the same weights:
    the same greedy tokens and stops, log-probs to 1e-5, and the same seeded samples (one
    generator per row, so only the logits could make them differ)."""
    assert gen.lean  # the project's models take the lean path
    hf = HFGenerator(gen.model, gen.eos_token_ids, gen.pad_token_id)
    hf.lean = False
    first_token = gen.generate_batch([(prompts[0], GREEDY)])[0].token_ids[0]
    stopper = HFGenerator(gen.model, eos_token_ids=[first_token], pad_token_id=gen.pad_token_id)
    stopper_hf = HFGenerator(gen.model, eos_token_ids=[first_token], pad_token_id=gen.pad_token_id)
    stopper_hf.lean = False
    cases = [
        (gen, hf, SamplingParams(temperature=0.0, max_tokens=16, logprobs=True, ignore_eos=True)),
        (stopper, stopper_hf, SamplingParams(temperature=0.0, max_tokens=16, logprobs=True)),
        (gen, hf, SamplingParams(temperature=0.8, top_p=0.9, top_k=40, max_tokens=16, logprobs=True, seed=11)),
    ]
    for lean, reference, params in cases:
        requests = [(p, SamplingParams(**{**params.__dict__, "seed": None if params.seed is None else params.seed + i}))
                    for i, p in enumerate(prompts)]
        ours, theirs = lean.generate_batch(requests), reference.generate_batch(requests)
        for a, b in zip(ours, theirs):
            assert (a.token_ids, a.finish_reason) == (b.token_ids, b.finish_reason)
            assert a.log_probs == pytest.approx(b.log_probs, abs=1e-5)
    assert {o.finish_reason for o in stopper.generate_batch([(p, cases[1][2]) for p in prompts])} == {"stop", "length"}
    # what it does not reproduce goes through generate(): another precision, a repetition penalty
    import copy

    from interplay_verl.backends.cpu.qwen2_decoding import Qwen2Decoder

    assert not Qwen2Decoder.supports(copy.deepcopy(gen.model).to(torch.bfloat16))
    assert not Qwen2Decoder.supports(torch.nn.Linear(2, 2))
    penalised = [(prompts[0], SamplingParams(temperature=0.0, max_tokens=8, repetition_penalty=1.3, ignore_eos=True))]
    through_generate = []
    original = gen._generate_hf
    monkeypatch.setattr(gen, "_generate_hf", lambda *a: through_generate.append(1) or original(*a))
    assert gen.generate_batch(penalised)[0].token_ids == hf.generate_batch(penalised)[0].token_ids
    assert through_generate == [1]
    gen.generate_batch([(prompts[0], GREEDY)])
    assert through_generate == [1]


def test_inverse_cdf_draws_follow_the_distribution():
    """The lean loop's unseeded draw: frequencies of 40,000 draws within 0.01 of the probabilities,
    a token of probability 0 never drawn (not even next to one of probability 0.5), all tokens in range."""
    from interplay_verl.backends.cpu.qwen2_decoding import _inverse_cdf

    probs = torch.tensor([0.0, 0.5, 0.0, 0.3, 0.2, 0.0])
    torch.manual_seed(0)
    draws = _inverse_cdf(probs.expand(40_000, -1).contiguous())
    freq = torch.bincount(draws, minlength=6).float() / len(draws)
    assert freq[[0, 2, 5]].sum() == 0
    assert torch.allclose(freq, probs, atol=0.01)
    with pytest.raises(ValueError, match="not finite and positive"):
        _inverse_cdf(torch.tensor([[0.5, float("nan")]]))
