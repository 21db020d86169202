"""verl's padding-free log-probs equal its padded ones, through verl's own FSDP engine on CPU.

The actor computes old log-probs with ``use_remove_padding`` from the model config: True flattens a
micro-batch into one row (no attention mask; transformers separates the sequences by the position
ids that restart at 0), False pads it back into a rectangle with an attention mask (what
``devices.cpu_speed_overrides`` picks: faster with sdpa on CPU, docs/rl.md#grpo-speed-on-cpu). A CPU run and a GPU run
of the same recipe therefore take different paths; they must give the same numbers. Both engines
here are verl's ``FSDPEngineWithLMHead`` (FSDP2 over a one-rank gloo group, fp32), fed the way the
trainer feeds the actor: a rollout batch (prompts left-padded, responses right-padded) through
``left_right_2_no_padding``, ``TrainingWorker.infer_batch``'s defaults, ``engine.infer_batch``, and
back with ``no_padding_2_padding``. (The rollout's left padding never reaches the model: verl strips
it, and the padded path pads on the right again.)
"""

import pytest
import torch

PROMPT_LENS = [3, 9, 5, 7]  # four sequences of different lengths in one micro-batch
RESPONSE_LENS = [6, 2, 8, 4]
TEMPERATURE = 0.7  # not 1: both paths scale the logits (per row when padded, per token when flattened)
TOL = dict(atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def process_group(tmp_path_factory):
    """One gloo rank, as a single-process verl worker has; the engine's device mesh lives on it."""
    import torch.distributed as dist

    if dist.is_initialized():  # someone else's: use it if it is a single rank, leave it to its owner
        assert dist.get_world_size() == 1, "a multi-rank process group already exists in this process"
        yield
        return
    store = tmp_path_factory.mktemp("pg") / "store"
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def engines(tiny_model, process_group):
    """use_remove_padding -> an initialised verl FSDP engine (the actor's, with its optimizer) in fp32."""
    from verl.trainer.config import CheckpointConfig
    from verl.workers.config import FSDPEngineConfig, FSDPOptimizerConfig, HFModelConfig
    from verl.workers.engine import EngineRegistry

    out = {}
    for remove_padding in (True, False):
        model_config = HFModelConfig(
            path=tiny_model, use_remove_padding=remove_padding, override_config={"attn_implementation": "sdpa"}
        )
        engine_config = FSDPEngineConfig(
            strategy="fsdp2",
            model_dtype="fp32",
            mixed_precision={"param_dtype": "fp32", "reduce_dtype": "fp32", "buffer_dtype": "fp32"},
            use_torch_compile=False,  # the entropy kernel; compiling it on CPU costs seconds and changes nothing
            use_dynamic_bsz=False,
            infer_micro_batch_size_per_gpu=len(PROMPT_LENS),  # the whole batch is one micro-batch
        )
        engine_config.use_remove_padding = remove_padding  # as TrainingWorker copies it from the model config
        engine = EngineRegistry.new(
            model_type="language_model",
            backend="fsdp2",
            model_config=model_config,
            engine_config=engine_config,
            optimizer_config=FSDPOptimizerConfig(lr=1e-6, total_training_steps=1),
            checkpoint_config=CheckpointConfig(),
        )
        engine.initialize()
        out[remove_padding] = engine
    yield out
    out.clear()  # free the FSDP modules before the process group goes


def rollout_batch(pad_token_id: int, vocab_size: int):
    """A DataProto as the rollout returns it: prompts left-padded, responses right-padded, positions
    counted over the attention mask (verl's compute_position_id_with_mask)."""
    from verl import DataProto
    from verl.utils.model import compute_position_id_with_mask

    g = torch.Generator().manual_seed(0)
    bsz, p_max, r_max = len(PROMPT_LENS), max(PROMPT_LENS), max(RESPONSE_LENS)
    prompts = torch.full((bsz, p_max), pad_token_id)
    responses = torch.full((bsz, r_max), pad_token_id)
    prompt_mask = torch.zeros(bsz, p_max, dtype=torch.long)
    response_mask = torch.zeros(bsz, r_max, dtype=torch.long)
    for i, (p, r) in enumerate(zip(PROMPT_LENS, RESPONSE_LENS)):
        prompts[i, p_max - p :] = torch.randint(0, vocab_size, (p,), generator=g)
        responses[i, :r] = torch.randint(0, vocab_size, (r,), generator=g)
        prompt_mask[i, p_max - p :] = 1
        response_mask[i, :r] = 1
    attention_mask = torch.cat([prompt_mask, response_mask], dim=1)
    tensors = {
        "prompts": prompts,
        "responses": responses,
        "input_ids": torch.cat([prompts, responses], dim=1),
        "attention_mask": attention_mask,
        "position_ids": compute_position_id_with_mask(attention_mask),
        "response_mask": response_mask,
    }
    return DataProto.from_dict(tensors=tensors, meta_info={"temperature": TEMPERATURE})


def old_log_prob(engine, batch, running_positions: bool = False):
    """ray_trainer._compute_old_log_prob + TrainingWorker.infer_batch, minus Ray.

    Returns the per-token log-probs and entropies of every token (nested, as the engine returns
    them), the response log-probs (bsz, max_response_len) the trainer keeps, and the inputs the
    model was called with. ``running_positions``: the negative control, positions counting on
    across the flattened sequences instead of restarting at each one.
    """
    from verl.utils import tensordict_utils as tu
    from verl.workers.utils.padding import left_right_2_no_padding, no_padding_2_padding

    data = left_right_2_no_padding(batch.to_tensordict())
    tu.assign_non_tensor(data, calculate_entropy=True, calculate_sum_pi_squared=False, compute_loss=False)
    if running_positions:
        offsets = data["input_ids"].offsets()
        data["position_ids"] = torch.nested.nested_tensor_from_jagged(torch.arange(int(offsets[-1])), offsets)
    # the defaults TrainingWorker.infer_batch injects
    tu.assign_non_tensor(
        data,
        use_remove_padding=engine.model_config.use_remove_padding,
        use_dynamic_bsz=engine.engine_config.use_dynamic_bsz,
        max_token_len_per_gpu=engine.engine_config.infer_max_token_len_per_gpu,
        micro_batch_size_per_gpu=engine.engine_config.infer_micro_batch_size_per_gpu,
        use_fused_kernels=engine.engine_config.use_fused_kernels,
    )

    calls = []
    hook = engine.module.register_forward_pre_hook(lambda module, args, kwargs: calls.append(kwargs), with_kwargs=True)
    try:
        with engine.eval_mode():
            output = engine.infer_batch(data, loss_function=None)
    finally:
        hook.remove()
    log_probs, entropy = output["model_output"]["log_probs"], output["model_output"]["entropy"]
    response = no_padding_2_padding(log_probs, data)
    return log_probs.values(), entropy.values(), response, data, calls


def test_padding_free_log_probs_equal_padded(engines, tiny_model):
    """Same weights, same rollout batch, one micro-batch of four sequences: the flattened row and the
    padded rectangle give every token the same log-prob and entropy to 1e-5."""
    from transformers import AutoTokenizer

    flat_engine, padded_engine = engines[True], engines[False]
    for a, b in zip(flat_engine.module.parameters(), padded_engine.module.parameters()):
        assert a.dtype == torch.float32 and torch.equal(a.full_tensor(), b.full_tensor())

    tok = AutoTokenizer.from_pretrained(tiny_model)
    batch = rollout_batch(tok.pad_token_id, flat_engine.model_config.hf_config.vocab_size)
    flat_lp, flat_ent, flat_resp, data, flat_calls = old_log_prob(flat_engine, batch)
    pad_lp, pad_ent, pad_resp, _, pad_calls = old_log_prob(padded_engine, batch)

    # the two paths really differ: one forward each, on one flattened row vs a padded rectangle
    total = sum(PROMPT_LENS) + sum(RESPONSE_LENS)
    longest = max(p + r for p, r in zip(PROMPT_LENS, RESPONSE_LENS))
    (flat_in,), (pad_in,) = flat_calls, pad_calls
    assert flat_in["input_ids"].shape == (1, total) and flat_in["attention_mask"] is None
    starts = (flat_in["position_ids"][0] == 0).nonzero().flatten().tolist()
    assert starts == data["input_ids"].offsets()[:-1].tolist()  # positions restart at every sequence
    assert pad_in["input_ids"].shape == (len(PROMPT_LENS), longest)
    assert pad_in["attention_mask"].sum(1).tolist() == [p + r for p, r in zip(PROMPT_LENS, RESPONSE_LENS)]

    assert flat_lp.shape == pad_lp.shape == (total,)
    torch.testing.assert_close(flat_lp, pad_lp, **TOL)
    torch.testing.assert_close(flat_ent, pad_ent, **TOL)
    # what the trainer keeps (old_log_probs): responses, right-padded with zeros
    mask = batch.batch["response_mask"].bool()
    assert flat_resp.shape == mask.shape and not flat_resp[~mask].any()
    torch.testing.assert_close(flat_resp, pad_resp, **TOL)
    assert flat_resp[mask].lt(0).all()  # real log-probs, not the padding


def test_running_positions_across_flattened_sequences_change_log_probs(engines, tiny_model):
    """Negative control, through the same flattened path: positions that count on across sequences
    instead of restarting tell transformers it is one long sequence, so every later sequence attends
    to the ones before it (and sits at shifted positions). The first sequence sees only itself
    either way and is unchanged; the others move by far more than the tolerance above."""
    from transformers import AutoTokenizer

    engine = engines[True]
    tok = AutoTokenizer.from_pretrained(tiny_model)
    batch = rollout_batch(tok.pad_token_id, engine.model_config.hf_config.vocab_size)
    good, _, _, data, _ = old_log_prob(engine, batch)
    leaked, _, _, _, calls = old_log_prob(engine, batch, running_positions=True)

    (model_in,) = calls
    assert torch.equal(model_in["position_ids"][0], torch.arange(good.numel()))
    first = int(data["input_ids"].offsets()[1])
    # the last token of the first sequence predicts (rolled) the next sequence's first token: still its own context
    torch.testing.assert_close(leaked[:first], good[:first], **TOL)
    assert (leaked[first:] - good[first:]).abs().max() > 1e-2
