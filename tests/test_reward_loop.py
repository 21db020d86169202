"""verl's own reward loop (naive and remote managers) scoring with interplay_verl.rewards.composite."""

import json

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from transformers import AutoTokenizer

from interplay_verl.problems.contexts import load_context
from interplay_verl.problems.rows import generate_row
from interplay_verl.rewards.composite import KEYS

pytestmark = pytest.mark.slow  # a Ray cluster and verl reward workers


def build_config(model: str, manager: str):
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        return compose(config_name="ppo_trainer", overrides=[
            f"actor_rollout_ref.model.path={model}",
            "reward.custom_reward_function.path=pkg://interplay_verl.rewards.composite",
            "reward.custom_reward_function.name=compute_score",
            "+reward.custom_reward_function.reward_kwargs.variant=gated",
            "+reward.custom_reward_function.reward_kwargs.alpha=0.5",
            f"reward.reward_manager.name={manager}",
            "reward.num_workers=1",
        ])


def make_batch(tok, rows, responses):
    from verl import DataProto

    prompt_ids = [tok(r["prompt"], add_special_tokens=False)["input_ids"] for r in rows]
    resp_ids = [tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for t in responses]
    p_len, r_len = max(map(len, prompt_ids)), max(map(len, resp_ids))
    prompts = torch.full((len(rows), p_len), tok.pad_token_id)
    resps = torch.full((len(rows), r_len), tok.pad_token_id)
    mask = torch.zeros((len(rows), p_len + r_len), dtype=torch.long)
    for i, (p, r) in enumerate(zip(prompt_ids, resp_ids)):
        prompts[i, p_len - len(p):] = torch.tensor(p)
        resps[i, : len(r)] = torch.tensor(r)
        mask[i, p_len - len(p): p_len + len(r)] = 1
    import numpy as np

    return DataProto.from_dict(
        tensors={"prompts": prompts, "responses": resps, "attention_mask": mask,
                 "input_ids": torch.cat([prompts, resps], 1)},
        non_tensors={
            "data_source": np.array([f"interplay/{r['context']}/op{r['op']}" for r in rows], dtype=object),
            "reward_model": np.array([{"ground_truth": r["answer"]} for r in rows], dtype=object),
            "extra_info": np.array([{"graph": r["graph"]} for r in rows], dtype=object),
        },
    )


@pytest.fixture
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", namespace="reward-test")
    yield
    ray.shutdown()


@pytest.mark.parametrize("manager", ["naive", "remote"])
def test_verl_reward_loop_scores_with_composite(tiny_model, manager, request):
    if manager == "remote":
        request.getfixturevalue("local_ray")
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    tok = AutoTokenizer.from_pretrained(tiny_model)
    ctx = load_context("zoo")
    rows = [generate_row(4, "forward", ctx, seed=2, index=i) for i in range(3)]
    gold = [r["text"].split("<solution>", 1)[1] for r in rows]
    wrong_answer = gold[1].replace(f"<answer> {rows[1]['answer']} </answer>", "<answer> 99999 </answer>")
    responses = [gold[0], wrong_answer, f"<answer> {rows[2]['answer']} </answer>"]

    worker = RewardLoopWorker(build_config(tiny_model, manager))
    outs = worker.loop.run_until_complete(worker.compute_score_batch(make_batch(tok, rows, responses)))
    scores = [o["reward_score"] for o in outs]
    extra = [o["reward_extra_info"] for o in outs]
    assert scores == pytest.approx([1.0, 0.0, 0.5])  # gated, alpha 0.5: bare answer -> alpha
    assert all(set(KEYS) <= set(e) for e in extra)
    assert [e["verified"] for e in extra] == [1.0, 0.0, 0.0]
    n_gold = sum(n["necessary"] for n in json.loads(rows[1]["graph"])["nodes"])
    assert extra[1]["outcome"] == 0.0 and extra[1]["wrong_answer"] == 1.0
    assert extra[1]["process"] == pytest.approx(1 - 1 / n_gold)  # every step right, the answer wrong
    assert extra[2]["missing"] > 0 and extra[2]["outcome"] == 1.0


@pytest.fixture(scope="module")
def released_layout(tmp_path_factory):
    from interplay_verl.testing.assets import build_released_layout

    return build_released_layout(str(tmp_path_factory.mktemp("released_layout")))


@pytest.mark.parametrize("manager", ["interplay", "interplay_remote"])
def test_tag_keeping_managers_score_both_tokenizer_layouts_alike(released_layout, manager, request):
    """Our managers, selected by name through verl's registry, give the released layout (tags special)
    and ours the same scores; verl's own naive manager scores the released layout's gold solution 0."""
    if manager == "interplay_remote":
        request.getfixturevalue("local_ray")
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    from interplay_verl.tokenizer import load_tokenizer

    ctx = load_context("zoo")
    rows = [generate_row(3, "forward", ctx, seed=5, index=i) for i in range(3)]
    gold = [r["text"].split("<solution>", 1)[1] for r in rows]
    responses = [gold[0], gold[1].replace(f"<answer> {rows[1]['answer']} </answer>", "<answer> 99999 </answer>"),
                 f"<answer> {rows[2]['answer']} </answer>"]
    scores = {}
    for layout in ("released", "ours"):
        path = released_layout[layout]
        batch = make_batch(load_tokenizer(path), rows, responses)
        worker = RewardLoopWorker(build_config(path, manager))
        assert type(worker.reward_manager).__name__ == {"interplay": "InterplayRewardManager",
                                                        "interplay_remote": "InterplayRemoteRewardManager"}[manager]
        outs = worker.loop.run_until_complete(worker.compute_score_batch(batch))
        scores[layout] = [(o["reward_score"], o["reward_extra_info"]["verified"]) for o in outs]
    assert scores["released"] == scores["ours"] == [(1.0, 1.0), (0.0, 0.0), (0.5, 0.0)]
    if manager == "interplay":  # the control: verl's stock decoding drops the released layout's tags
        stock = RewardLoopWorker(build_config(released_layout["released"], "naive"))
        outs = stock.loop.run_until_complete(stock.compute_score_batch(
            make_batch(load_tokenizer(released_layout["released"]), rows, responses)))
        assert [o["reward_score"] for o in outs] == [0.0, 0.0, 0.0]
