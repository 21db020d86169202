"""verl overrides for the smallest real SFT and GRPO runs (tests and benchmarks, on toy data).

They drive verl's own trainers with the device overrides of ``devices.py``; only the data
(toy documents) and the reward (``answer_reward.py``) are test fixtures.
"""

from __future__ import annotations

ANSWER_REWARD = "pkg://interplay_verl.testing.answer_reward"


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
