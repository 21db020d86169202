"""GRPO learns through our reward: verl's own trainer (``interplay-verl rl``: main_ppo, V1 trainer,
FSDP actor, our CPU rollout) with ``interplay_verl.rewards.composite`` on a model that can learn.

The model is the 0.8m one pre-trained on the CPU-scale generator (op 2-3, values up to 20,
``max_distractors`` 1, letters a, b, c in order: docs/paper-differences.md) until it answers about half of
its op-2 problems: GRPO then has both right and wrong answers in every group to learn from. A
random model would not do: nothing it samples is right, and its near-uniform next-token
distribution would also hide a stale rollout from the weight-sync check below.

- With the gated reward, the mean reward over the last steps is above the starting model's (measured
  once, in process, with more samples than a step draws) by more than the noise of both; the
  rollout samples from the weights being trained.
- Negative control: the same run with the score negated (``testing/negated_reward.py``) lowers it.
- Negative control: with weight sync off, the rollout's log-probs drift away from the actor's.
"""

import json
import os
import statistics

import pytest
import torch
from safetensors.torch import load_file

from interplay_verl.backends.cpu.rollout import WEIGHT_SYNC_ENV
from interplay_verl.rewards.composite import KEYS
from interplay_verl.train import rl
from interplay_verl.train.launch import read_metrics

pytestmark = pytest.mark.slow  # verl SFT and GRPO runs, one at a time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAIN_STEPS = 800
STEPS, WINDOW = 16, 4  # GRPO steps; the last WINDOW steps are compared with the start
NEGATED_STEPS = 6  # pushing the score down takes fewer steps than raising it (measured: 0.11 -> 0 in 5)
START_SAMPLES = 32  # per prompt, for the starting model's mean reward
NEGATED = "pkg://interplay_verl.testing.negated_reward"


@pytest.fixture(scope="module")
def learnable(tmp_path_factory):
    """(pre-trained model, RL parquet of 8 op-2 prompts): every step trains on the same 8 prompts,
    so the reward's step-to-step noise is the sampling's alone."""
    from interplay_verl.corpus import build
    from interplay_verl.data.rl import write_rl_parquet
    from interplay_verl.data.rows import load_rows, read_ids
    from interplay_verl.models import init_model
    from interplay_verl.problems.contexts import load_context
    from interplay_verl.problems.generate import generate
    from interplay_verl.problems.rows import generate_row
    from interplay_verl.problems.sampler import SamplerConfig
    from interplay_verl.tokenizer import build_tokenizer
    from interplay_verl.train import pretrain

    root = tmp_path_factory.mktemp("learnable")
    small = SamplerConfig(max_value=20, max_distractors=1, letters="ordered")
    rows = str(root / "rows")
    generate(rows, "2-3", tokens=2_000_000, seed=0, quiet=True, sampler=small)
    build_tokenizer(rows, str(root / "tok"))
    build(rows, str(root / "tok"), str(root / "corpus"), 1024, quiet=True)
    init_model(str(root / "tok"), str(root / "init"), "0.8m", seed=0)
    cfg = pretrain.load_config(os.path.join(ROOT, "recipes", "configs", "pretrain_cpu.yaml"))
    result = pretrain.run(cfg, str(root / "corpus"), str(root / "init"), str(root / "pt"),
                          extra=[f"trainer.total_training_steps={PRETRAIN_STEPS}", f"trainer.save_freq={PRETRAIN_STEPS}"])
    assert result["steps"] == PRETRAIN_STEPS
    seen = read_ids(rows)
    ctx = load_context("zoo")
    prompts = [r for r in (generate_row(2, "forward", ctx, 99, i, small) for i in range(40)) if r["id"] not in seen][:8]
    assert len(prompts) == 8 and len(load_rows(rows)) > 1000
    return str(root / "pt" / "hf"), write_rl_parquet(prompts, str(root / "rl.parquet"))


@pytest.fixture(scope="module")
def start(learnable) -> tuple[float, float]:
    """The starting model's mean reward on the 8 prompts (gated score, sampled at temperature 1 as
    the rollout does, START_SAMPLES each) and its standard error over the prompts' sampling: where
    both runs begin, measured once with more samples than a step draws."""
    from transformers import AutoTokenizer

    from interplay_verl.backends.cpu.generation import HFGenerator, SamplingParams
    from interplay_verl.data.rl import read_rl_parquet
    from interplay_verl.rewards.composite import compute_score
    from interplay_verl.rewards.decoding import completion_text

    model, train = learnable
    tok, generator = AutoTokenizer.from_pretrained(model), HFGenerator.from_pretrained(model)
    rows = read_rl_parquet(train)
    requests = [(tok.apply_chat_template(list(r["prompt"]), tokenize=True, add_generation_prompt=True)["input_ids"],
                 SamplingParams(temperature=1.0, max_tokens=64, seed=i * START_SAMPLES + j))
                for i, r in enumerate(rows) for j in range(START_SAMPLES)]
    done = generator.generate_batch(requests)
    means, variances = [], []
    for i, r in enumerate(rows):
        scores = [compute_score(r["data_source"], completion_text(tok, c.token_ids), r["reward_model"]["ground_truth"],
                                r["extra_info"])["score"] for c in done[i * START_SAMPLES:(i + 1) * START_SAMPLES]]
        means.append(statistics.fmean(scores))
        variances.append(statistics.variance(scores) / START_SAMPLES)
    return statistics.fmean(means), (sum(variances) ** 0.5) / len(rows)


def grpo(learnable, out, steps: int = STEPS, reward_path: str = "", sync: bool = True) -> tuple[dict, dict[int, dict]]:
    """``interplay-verl rl`` (interplay_grpo_cpu, gated reward) for ``steps`` steps: (result, step -> metrics).

    The online filter keeps count of every rollout but never judges a prompt (its evidence
    threshold is out of reach), so every step trains on the same 8 prompts."""
    model, train = learnable
    extra = [f"trainer.total_training_steps={steps}", f"trainer.save_freq={steps}", "data.max_response_length=64",
             "actor_rollout_ref.rollout.n=8", "actor_rollout_ref.actor.optim.lr=1e-3",
             "interplay.online_filter.min_samples=100000"]
    if reward_path:
        extra.append(f"reward.custom_reward_function.path={reward_path}")
    result = rl.run("interplay_grpo_cpu", model, train, train, str(out), "cpu", variant="gated", alpha=0.2,
                    extra=extra, extra_env={WEIGHT_SYNC_ENV: "1" if sync else "0"}, timeout=1800)
    assert result["steps"] == steps
    with open(os.path.join(out, "manifest.json")) as f:
        verl = json.load(f)["config"]["verl"]["actor_rollout_ref"]
    # the config's "auto" micro-batches: a step's 8 x 8 sequences in one pass (train/rl.py auto_micro_batches)
    assert [verl["actor"]["ppo_micro_batch_size_per_gpu"], verl["rollout"]["log_prob_micro_batch_size_per_gpu"],
            verl["ref"]["log_prob_micro_batch_size_per_gpu"]] == [64, 64, 64]
    with open(os.path.join(out, "train-00.log")) as f:
        assert "TaskRunnerV1" in f.read()  # verl's default V1 trainer, not the deprecated one
    assert os.path.exists(os.path.join(out, "hydra", "train-00", ".hydra", "overrides.yaml"))  # not outputs/<date>/
    return result, {m["step"]: m["data"] for m in read_metrics(os.path.join(out, "metrics", "run-00.jsonl"))}


def change(series: list[float], start: tuple[float, float], window: int = WINDOW) -> tuple[float, float]:
    """(mean of the last ``window`` steps - the starting model's mean, the standard error of that
    difference: the last steps' spread and the start's own)."""
    last = series[-window:]
    se = (statistics.variance(last) / window + start[1] ** 2) ** 0.5
    return statistics.fmean(last) - start[0], se


def test_grpo_raises_the_process_reward(learnable, start, tmp_path):
    result, logged = grpo(learnable, tmp_path)
    assert sorted(logged) == list(range(1, STEPS + 1))
    # every step logs each part of the reward and the edge pool's shares; no prompt is ever skipped
    for step, data in logged.items():
        for key in KEYS:
            assert data[f"reward/{key}/mean"] >= 0.0, (step, key)
        shares = [data[f"edge/{s}"] for s in ("saturated", "in_band", "out_of_reach", "unseen")]
        assert sum(shares) == pytest.approx(1.0) and min(shares) >= 0.0
        assert data["edge/skipped_prompts_total"] == 0
    with open(tmp_path / "checkpoints" / f"global_step_{STEPS}" / "edge_pool.json") as f:
        assert sum(n for n, _ in json.load(f)["counts"].values()) == STEPS * 8 * 8  # steps x prompts x rollouts
    score = [logged[s]["reward/score/mean"] for s in sorted(logged)]
    assert score == pytest.approx([logged[s]["critic/score/mean"] for s in sorted(logged)], abs=1e-6)
    rise, se = change(score, start)
    assert rise > 2 * se and rise > 0.03, (rise, se, score)
    # the rollout samples from the weights being trained, and they moved
    gaps = [logged[s]["training/rollout_probs_diff_max"] for s in sorted(logged)]
    assert max(gaps) < 0.1, gaps
    trained = load_file(str(tmp_path / "hf" / "model.safetensors"))
    initial = load_file(os.path.join(learnable[0], "model.safetensors"))
    assert sum(not torch.allclose(initial[k].float(), trained[k].float()) for k in initial) >= len(initial) // 2
    assert os.path.exists(tmp_path / "rl.png")
    assert rl.run("interplay_grpo_cpu", *learnable, learnable[1], str(tmp_path), "cpu") == result  # done: not redone


def test_grpo_with_the_score_negated_lowers_it(learnable, start, tmp_path):
    """The negative control: the trainer follows its reward, so maximising -score lowers the score."""
    _, logged = grpo(learnable, tmp_path, steps=NEGATED_STEPS, reward_path=NEGATED)
    score = [-logged[s]["reward/score/mean"] for s in sorted(logged)]  # the composite's own score
    assert score == pytest.approx([-logged[s]["critic/score/mean"] for s in sorted(logged)], abs=1e-6)
    fall, se = change(score, start, window=3)
    assert fall < -2 * se and fall < -0.03, (fall, se, score)


def test_without_weight_sync_the_gap_is_large(learnable, tmp_path):
    """Negative control of the sync check: the rollout keeps sampling from the starting weights."""
    _, logged = grpo(learnable, tmp_path, steps=3, sync=False)
    gaps = [logged[s]["training/rollout_probs_diff_max"] for s in sorted(logged)]
    assert gaps[0] < 0.1  # step 1 samples from the initial weights, which both sides share
    assert max(gaps[1:]) > 0.3, gaps
