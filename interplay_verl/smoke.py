"""The tiny end-to-end run: tokenizer -> random Qwen2 -> verl SFT -> verl GRPO, on toy data.

This is what ``recipes/cpt_then_rl.sh`` runs until the generator, verifier and evaluation
stages exist; every step already goes through verl's real trainers. The same overrides
serve the test suite, so the tests exercise exactly what users run.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Optional

from interplay_verl.assets import build_tiny_model, write_toy_rl_parquet, write_toy_sft_parquet
from interplay_verl.manifest import write_manifest
from interplay_verl.train import launch

ANSWER_REWARD = "pkg://interplay_verl.rewards.answer_match"


def tiny_sft_overrides(model_path: str, train_file: str, val_file: str, out_dir: str, steps: int,
                       batch_size: int = 16, lr: float = 3e-3) -> list[str]:
    return [
        f"data.train_files={train_file}",
        f"data.val_files={val_file}",
        "data.custom_cls.path=pkg://interplay_verl.data.plain_text",
        "data.custom_cls.name=PlainTextSFTDataset",
        f"data.train_batch_size={batch_size}",
        "data.micro_batch_size_per_gpu=8",
        "data.max_length=256",
        "data.use_dynamic_bsz=False",
        f"model.path={model_path}",
        f"optim.lr={lr}",
        f"trainer.total_training_steps={steps}",
        "trainer.total_epochs=100",
        "trainer.logger=[console,file]",
        f"trainer.default_local_dir={out_dir}",
        "trainer.project_name=interplay",
        "trainer.experiment_name=sft",
        "checkpoint.save_contents=[model,optimizer,extra,hf_model]",
    ]


def tiny_grpo_overrides(model_path: str, train_file: str, val_file: str, out_dir: str, steps: int,
                        reward_path: str = ANSWER_REWARD, lr: float = 1e-3, rollouts: int = 4,
                        batch_size: int = 4, response_length: int = 64) -> list[str]:
    return [
        "algorithm.adv_estimator=grpo",
        f"data.train_files={train_file}",
        f"data.val_files={val_file}",
        f"data.train_batch_size={batch_size}",
        "data.max_prompt_length=128",
        f"data.max_response_length={response_length}",
        f"actor_rollout_ref.model.path={model_path}",
        f"actor_rollout_ref.actor.optim.lr={lr}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={batch_size}",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8",
        "actor_rollout_ref.actor.use_kl_loss=True",
        "actor_rollout_ref.actor.kl_loss_coef=0.001",
        "actor_rollout_ref.actor.kl_loss_type=low_var_kl",
        f"actor_rollout_ref.rollout.n={rollouts}",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=8",
        f"reward.custom_reward_function.path={reward_path}",
        "reward.custom_reward_function.name=compute_score",
        "trainer.logger=[console,file]",
        f"trainer.total_training_steps={steps}",
        "trainer.save_freq=-1",
        "trainer.test_freq=-1",
        "trainer.val_before_train=False",
        f"trainer.default_local_dir={out_dir}",
        "trainer.project_name=interplay",
        "trainer.experiment_name=grpo",
    ]


def run_smoke(out: str, sft_steps: int = 150, rl_steps: int = 3, seed: int = 0, device: str = "cpu") -> dict:
    out = os.path.abspath(out)
    os.makedirs(out, exist_ok=True)
    write_manifest(out, config={"sft_steps": sft_steps, "rl_steps": rl_steps, "device": device}, seed=seed)
    t0 = time.time()
    model = build_tiny_model(os.path.join(out, "tiny"), seed=seed)
    data = os.path.join(out, "data")
    sft_train = write_toy_sft_parquet(os.path.join(data, "sft_train.parquet"), 512, seed)
    sft_val = write_toy_sft_parquet(os.path.join(data, "sft_val.parquet"), 32, seed + 1)
    rl_train = write_toy_rl_parquet(os.path.join(data, "rl_train.parquet"), 64, seed + 2)
    rl_val = write_toy_rl_parquet(os.path.join(data, "rl_val.parquet"), 8, seed + 3)

    sft_dir = os.path.join(out, "sft")
    print(f"[smoke] pre-training the tiny model for {sft_steps} steps (verl sft_trainer) -> {sft_dir}", flush=True)
    sft_cmd = launch.sft_command(tiny_sft_overrides(model, sft_train, sft_val, sft_dir, sft_steps), device)
    sft_logged = launch.run_stage("SFT", sft_cmd, device, sft_dir)
    sft_hf = os.path.join(sft_dir, f"global_step_{sft_steps}", "huggingface")

    rl_dir = os.path.join(out, "rl")
    print(f"[smoke] GRPO for {rl_steps} steps (verl main_ppo, cpu rollout) -> {rl_dir}", flush=True)
    rl_cmd = launch.ppo_command(tiny_grpo_overrides(sft_hf, rl_train, rl_val, rl_dir, rl_steps), device)
    rl_logged = launch.run_stage("GRPO", rl_cmd, device, rl_dir)

    sft_losses = [m["data"]["train/loss"] for m in sft_logged if "train/loss" in m["data"]]
    rl_steps_logged = [m["data"] for m in rl_logged if "critic/score/mean" in m["data"]]
    summary = {
        "sft_loss_first": sft_losses[0],
        "sft_loss_last": sft_losses[-1],
        "rl_score_mean": [s["critic/score/mean"] for s in rl_steps_logged],
        "rl_rollout_probs_diff_max": [s["training/rollout_probs_diff_max"] for s in rl_steps_logged],
        "rl_step_s": [s["timing_s/step"] for s in rl_steps_logged],
        "wall_s": round(time.time() - t0, 1),
    }
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="interplay-verl smoke", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outputs/smoke", help="output directory (default: outputs/smoke)")
    parser.add_argument("--sft-steps", type=int, default=150)
    parser.add_argument("--rl-steps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    args = parser.parse_args(argv)
    summary = run_smoke(args.out, args.sft_steps, args.rl_steps, args.seed, args.device)
    for key, value in summary.items():
        print(f"{key:<28} {value}")
    return 0
