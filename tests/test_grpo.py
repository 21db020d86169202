"""verl's own GRPO (``verl.trainer.main_ppo``, default V1 trainer) with our CPU rollout.

Both runs start from a briefly pre-trained model: a random model's next-token distribution is
nearly uniform, so even a rollout with stale weights would match the actor's probabilities
and the sync check below could not fail.
"""

import os

import pytest
import torch
from safetensors.torch import load_file

from interplay_verl.testing.assets import write_toy_rl_parquet, write_toy_sft_parquet
from interplay_verl.backends.cpu.rollout import WEIGHT_SYNC_ENV
from interplay_verl.testing.overrides import tiny_grpo_overrides, tiny_sft_overrides
from interplay_verl.train import launch

pytestmark = pytest.mark.slow  # verl GRPO runs

HERE = os.path.dirname(os.path.abspath(__file__))
DIGIT_REWARD = os.path.join(HERE, "assets", "digit_reward.py")
STEPS = 3


@pytest.fixture(scope="module")
def pretrained(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain")
    train = write_toy_sft_parquet(str(root / "train.parquet"), 512, seed=1)
    val = write_toy_sft_parquet(str(root / "val.parquet"), 16, seed=2)
    cmd = launch.sft_command(tiny_sft_overrides(tiny_model, train, val, str(root / "sft"), 60), "cpu")
    launch.run_stage("SFT", cmd, "cpu", str(root / "sft"), timeout=600)
    return str(root / "sft" / "global_step_60" / "huggingface")


@pytest.fixture(scope="module")
def rl_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("rl_data")
    return write_toy_rl_parquet(str(root / "train.parquet"), 64, seed=3), write_toy_rl_parquet(str(root / "val.parquet"), 8, seed=4)


def run_grpo(model, rl_data, out, sync: bool):
    overrides = tiny_grpo_overrides(model, *rl_data, out, STEPS, reward_path=DIGIT_REWARD, lr=1e-2) + [
        f"trainer.save_freq={STEPS}",
        "actor_rollout_ref.actor.checkpoint.save_contents=[model,optimizer,extra,hf_model]",
    ]
    logged = launch.run_stage("GRPO", launch.ppo_command(overrides, "cpu"), "cpu", out, timeout=900,
                              extra_env={WEIGHT_SYNC_ENV: "1" if sync else "0"})
    with open(os.path.join(out, "train.log")) as f:
        assert "TaskRunnerV1" in f.read()  # verl's default V1 trainer, not the deprecated one
    return [m for m in logged if "training/rollout_probs_diff_max" in m["data"]]


def test_grpo_trains_with_synced_rollout(pretrained, rl_data, tmp_path):
    steps = run_grpo(pretrained, rl_data, str(tmp_path), sync=True)
    assert [m["step"] for m in steps] == list(range(1, STEPS + 1))
    gaps = [m["data"]["training/rollout_probs_diff_max"] for m in steps]
    assert max(gaps) < 0.1, gaps
    for m in steps:
        assert m["data"]["actor/grad_norm"] > 0 and m["data"]["response_length/mean"] > 0

    trained = load_file(str(tmp_path / f"global_step_{STEPS}" / "actor" / "huggingface" / "model.safetensors"))
    start = load_file(os.path.join(pretrained, "model.safetensors"))
    changed = [k for k in start if not torch.allclose(start[k].float(), trained[k].float())]
    assert len(changed) >= len(start) // 2, f"only {changed} changed"


def test_without_weight_sync_the_gap_is_large(pretrained, rl_data, tmp_path):
    """Negative control: the same run with sync disabled shows the stale-rollout gap."""
    steps = run_grpo(pretrained, rl_data, str(tmp_path), sync=False)
    gaps = [m["data"]["training/rollout_probs_diff_max"] for m in steps]
    assert gaps[0] < 0.1  # step 1 samples from the initial weights, which both sides share
    assert max(gaps[1:]) > 0.3, gaps
