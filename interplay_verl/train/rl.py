"""``interplay-verl rl``: GRPO through ``verl.trainer.main_ppo`` with the process reward and the online filter.

The Hydra config ``interplay_verl/configs/interplay_grpo.yaml`` extends verl's ``ppo_trainer``
(searchpath ``pkg://verl.trainer.config``) with the paper's GRPO settings (docs/method.md#10-models-tokenizer-and-training-settings);
``interplay_grpo_cpu.yaml`` is its CPU-sized variant (``--config-name``). The reward is
``interplay_verl.rewards.composite`` (``--variant``, ``--alpha``), the trainer is verl's sync
V1 trainer with the online edge-of-competence filter (``interplay_verl.filters.online``). A
run has the lifecycle of every trainer stage (``train/stage.py``): checkpoints (each with the
filter's pool), per-launch metrics, ``hf/`` (the final actor), ``rl.png`` (reward components
and pool shares per step) and the manifest.

Everything is checked before Ray starts: the composed config (verl's schema), the reward's
variant and alpha, and the filter's settings. Rerunning after a kill resumes from the last
checkpoint; rerunning a finished run does nothing. Extra arguments are verl overrides.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional
from collections.abc import Sequence

from interplay_verl.devices import verl_overrides
from interplay_verl.models import ModelNotFound, add_model_arguments, model_path
from interplay_verl.train import launch, stage
from interplay_verl.train.launch import StageConfigError, check_overrides

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
# the GRPO Hydra configs shipped here (files starting with "_" are shared bases, not runnable)
CONFIG_NAMES = tuple(sorted(os.path.splitext(f)[0] for f in os.listdir(CONFIG_DIR)
                            if f.endswith(".yaml") and not f.startswith("_")))
# verl's micro-batch sizes a config may leave to ``auto_micro_batches`` (value "auto")
AUTO_MICRO_BATCH = ("actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu",
                    "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu",
                    "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu")
AUTO_MICRO_BATCH_TOKENS = 32_768  # padded tokens in one micro-batch at most
CURVES = ("reward/score/mean", "reward/outcome/mean", "reward/process/mean", "reward/verified/mean",
          "edge/in_band", "edge/saturated", "edge/out_of_reach")


def rl_overrides(model: str, train: str, val: str, out: str, variant: Optional[str] = None,
                 alpha: Optional[float] = None, extra: Sequence[str] = (), semantics: Optional[str] = None) -> list[str]:
    out = os.path.abspath(out)
    overrides = [
        f"data.train_files={os.path.abspath(train)}",
        f"data.val_files={os.path.abspath(val)}",
        f"actor_rollout_ref.model.path={os.path.abspath(model)}",
        f"trainer.default_local_dir={os.path.join(out, 'checkpoints')}",
        "trainer.resume_mode=auto",
        "actor_rollout_ref.actor.checkpoint.save_contents=[model,optimizer,extra,hf_model]",
    ]
    if variant is not None:
        overrides.append(f"reward.custom_reward_function.reward_kwargs.variant={variant}")
    if alpha is not None:
        overrides.append(f"reward.custom_reward_function.reward_kwargs.alpha={alpha}")
    if semantics is not None:
        overrides.append(f"reward.custom_reward_function.reward_kwargs.semantics={semantics}")
    return overrides + list(extra)


def tokenizer_overrides(model: str, out: str) -> list[str]:
    """verl's workers load the tokenizer with AutoTokenizer, which rebuilds a transformers-4 tokenizer
    beside a qwen2 config (the paper's released checkpoints: whole numbers split into digits); a
    copy without the config loads as saved (``tokenizer.load_tokenizer``)."""
    from interplay_verl.tokenizer import verl_tokenizer_path

    path = verl_tokenizer_path(model, out)
    return [f"actor_rollout_ref.model.tokenizer_path={path}"] if path else []


def config_command(config_name: str, overrides: Sequence[str], device: launch.Device, n_workers: int = 1) -> list[str]:
    """``main_ppo`` on our config: device overrides first, so the caller's can replace them."""
    return [sys.executable, "-m", "verl.trainer.main_ppo", "--config-path", CONFIG_DIR, "--config-name",
            config_name, *verl_overrides(device, "ppo", n_workers), *overrides]


def verl_validate(cfg) -> None:
    """verl's own validation of a composed PPO config (what main_ppo runs first): batch sizes that
    do not divide, micro-batch sizes missing, ... Schema composition alone does not catch these."""
    import warnings

    from omegaconf import OmegaConf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from verl.trainer.ppo.utils import need_critic, need_reference_policy
        from verl.utils.config import validate_config
    resolved = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    try:
        validate_config(config=resolved, use_reference_policy=need_reference_policy(resolved),
                        use_critic=need_critic(resolved))
    except Exception as exc:  # verl raises AssertionError, ValueError and Hydra's InstantiationException
        raise StageConfigError(f"verl's config validation: {' '.join(str(exc).split())[:600]}") from None


def auto_micro_batches(cfg) -> list[str]:
    """Overrides for the micro-batch sizes set to ``auto``: the largest that divides a PPO mini-batch
    per rank and holds at most ``AUTO_MICRO_BATCH_TOKENS`` padded tokens.

    On a CPU fewer, larger matrix products are faster (one micro-batch per pass: every log-prob and
    update phase ~25% faster, docs/rl.md#grpo-speed-on-cpu), but verl asserts that every batch is a
    multiple of its micro-batch, so no one number serves every run's batch (the smoke profile's 4 x 4,
    the tiny profile's 8 x 4). A divisor of the mini-batch divides every batch verl makes: it pads a
    step's batch to a multiple of the mini-batch (and of the ranks) before the log-prob passes."""
    from omegaconf import OmegaConf

    world = int(cfg.trainer.nnodes) * int(cfg.trainer.n_gpus_per_node)
    mini = max(1, int(cfg.actor_rollout_ref.actor.ppo_mini_batch_size) * int(cfg.actor_rollout_ref.rollout.n) // world)
    cap = max(1, AUTO_MICRO_BATCH_TOKENS // (int(cfg.data.max_prompt_length) + int(cfg.data.max_response_length)))
    size = max(d for d in range(1, min(mini, cap) + 1) if mini % d == 0)
    return [f"{key}={size}" for key in AUTO_MICRO_BATCH if OmegaConf.select(cfg, key) == "auto"]


def check_config(config_name: str, overrides: Sequence[str], device: launch.Device, n_workers: int = 1,
                 filled: Optional[list] = None):
    """Compose the final config and check what verl cannot: the reward's knobs and the filter's.
    Micro-batch sizes left ``auto`` are chosen here; their overrides are appended to ``filled``."""
    from omegaconf import OmegaConf

    from interplay_verl.filters.pool import online_config
    from interplay_verl.rewards.composite import check_reward_kwargs

    if config_name not in CONFIG_NAMES:
        raise StageConfigError(f"--config-name {config_name!r}: choose one of {', '.join(CONFIG_NAMES)}")
    cfg = check_overrides([*verl_overrides(device, "ppo", n_workers), *overrides], config_name, CONFIG_DIR)
    auto = auto_micro_batches(cfg)
    for override in auto:
        key, _, value = override.partition("=")
        OmegaConf.update(cfg, key, int(value), merge=False)
    if filled is not None:
        filled.extend(auto)
    verl_validate(cfg)
    launch.check_saves(cfg, "rl")
    kwargs = cfg.reward.custom_reward_function.get("reward_kwargs") or {}
    try:
        check_reward_kwargs(kwargs.get("variant", "gated"), kwargs.get("alpha", 0.2), kwargs.get("semantics", "interplay"))
        online_config(cfg)
    except ValueError as exc:
        raise StageConfigError(str(exc)) from None
    from interplay_verl.data.rl import check_rl_parquet
    from interplay_verl.filters.pool import TRAINER_NAME

    train_files = cfg.data.train_files
    for path in ([train_files] if isinstance(train_files, str) else list(train_files)):
        if not os.path.exists(path):
            raise StageConfigError(f"data.train_files: {path} does not exist (`interplay-verl filter` or "
                                   "`interplay-verl rl-data` writes one)")
        if cfg.trainer.get("v1", {}).get("trainer_mode") == TRAINER_NAME and path.endswith(".parquet"):
            try:
                check_rl_parquet(path)
            except ValueError as exc:
                raise StageConfigError(f"data.train_files: {exc}") from None
    return cfg


def run(config_name: str, model: str, train: str, val: str, out: str, device: launch.Device = "cpu",
        variant: Optional[str] = None, alpha: Optional[float] = None, extra: Sequence[str] = (),
        n_workers: int = 1, extra_env: Optional[dict] = None, timeout: Optional[float] = None,
        semantics: Optional[str] = None) -> dict:
    from omegaconf import OmegaConf

    from interplay_verl import plots

    overrides = rl_overrides(model, train, val, out, variant, alpha, [*tokenizer_overrides(model, out), *extra],
                             semantics)
    config = {"config_name": config_name, "model": os.path.abspath(model), "train": os.path.abspath(train),
              "val": os.path.abspath(val), "device": device, "extra_overrides": list(extra)}

    filled: list[str] = []  # the micro-batch sizes the config leaves to auto_micro_batches

    def check() -> None:
        launch.prepare(device)  # the device check, and VERL_PLATFORM for the config check's verl import
        filled.clear()
        cfg = check_config(config_name, overrides, device, n_workers, filled)
        config["verl"] = OmegaConf.to_container(cfg, resolve=False)  # the manifest records the composed config
        trainer.seed = int(cfg.data.get("seed", 1) or 1)

    def command(metrics: str) -> list[str]:
        # verl logs from its TaskRunner actor, which inherits the launcher's environment only on a Ray
        # cluster of its own; on a running cluster (a Ray job) the path must travel in the runtime env
        logger_path = f"+ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH={metrics}"
        return config_command(config_name, [*overrides, *filled, logger_path], device, n_workers)

    trainer = stage.TrainerStage(
        name="rl", out=out, model=model, device=device, command=command, check=check,
        hf_inside=os.path.join("actor", "huggingface"), curves=CURVES, plot=plots.rl_curves, plot_file="rl.png",
        config=config, overrides=lambda: overrides, extra_env=extra_env, timeout=timeout)
    return stage.run(trainer)


def build_parser() -> argparse.ArgumentParser:
    from interplay_verl.rewards.composite import SEMANTICS, VARIANTS

    p = argparse.ArgumentParser(prog="interplay-verl rl", description=__doc__.splitlines()[0],
                                epilog="Extra arguments are verl main_ppo overrides, e.g. trainer.total_training_steps=5.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config-name", choices=CONFIG_NAMES, default="interplay_grpo_cpu",
                   help="GRPO Hydra config: interplay_grpo (the paper's settings) or interplay_grpo_cpu (CPU-sized)")
    add_model_arguments(p, "starting model (the mid-training stage's hf/)")
    p.add_argument("--train", required=True, help="RL parquet (`interplay-verl filter` writes rl.parquet)")
    p.add_argument("--val", help="held-out validation RL parquet (default: none, and no validation; never the "
                                 "training prompts)")
    p.add_argument("--out", required=True, help="stage directory (checkpoints, metrics, hf/, rl.png, manifest)")
    p.add_argument("--variant", choices=sorted(VARIANTS), help="reward variant (config: gated)")
    p.add_argument("--alpha", type=float, help="reward alpha (config: 0.2)")
    p.add_argument("--semantics", choices=SEMANTICS,
                   help="how the reward reads a solution: ours, or the released reward's (config: interplay)")
    p.add_argument("--device", choices=["cpu", "gpu"], help="default: cpu for a *_cpu config, else gpu")
    p.add_argument("--n-workers", type=int, help="training processes per node (default: the GPUs torch sees, 1 on CPU)")
    p.add_argument("--nnodes", type=int, default=1, help="nodes of the Ray cluster in RAY_ADDRESS to train on")
    return p


def cli_settings(args, extra: Sequence[str]) -> tuple[str, int, list[str]]:
    """The device, workers per node and verl overrides the command line means."""
    from interplay_verl.devices import gpu_count

    device = args.device or ("cpu" if args.config_name.endswith("_cpu") else "gpu")
    n_workers = args.n_workers or (max(1, gpu_count()) if device == "gpu" else 1)
    # verl always builds a validation set: without a held-out one, give it the training file and never run it
    no_val = [] if args.val else ["trainer.val_before_train=False", "trainer.test_freq=-1"]
    return device, n_workers, [f"trainer.nnodes={args.nnodes}", *no_val, *extra]


def main(argv: Optional[list[str]] = None) -> int:
    p = build_parser()
    args, extra = p.parse_known_args(argv)
    bad = launch.not_overrides(extra)
    if bad:
        p.error(f"unrecognised arguments {bad}; verl overrides look like key=value (or ~key)")
    from interplay_verl.command import report

    device, n_workers, extra = cli_settings(args, extra)
    return report("rl", lambda: run(args.config_name, model_path(args), args.train, args.val or args.train, args.out, device,
                                    args.variant, args.alpha, extra, n_workers, semantics=args.semantics),
                  (StageConfigError, launch.StageError, ModelNotFound))
