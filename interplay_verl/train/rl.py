"""``interplay-verl rl``: GRPO through ``verl.trainer.main_ppo`` with the process reward and the online filter.

The Hydra config ``interplay_verl/configs/interplay_grpo.yaml`` extends verl's ``ppo_trainer``
(searchpath ``pkg://verl.trainer.config``) with the paper's GRPO settings (SPEC section 10);
``interplay_grpo_cpu.yaml`` is its tiny CPU profile. The reward is
``interplay_verl.rewards.composite`` (``--variant``, ``--alpha``), the trainer is verl's sync
V1 trainer with the online edge-of-competence filter (``interplay_verl.filters.online``). A
run writes

    <out>/checkpoints/global_step_N/   verl's checkpoints, each with the filter's pool
    <out>/metrics/run-KK.jsonl         verl's per-step metrics, one file per launch
    <out>/hf/                          the final actor as a Hugging Face model
    <out>/rl.png                       reward components and pool shares per step
    <out>/manifest.json

Everything is checked before Ray starts: the composed config (verl's schema), the reward's
variant and alpha, and the filter's settings. Rerunning after a kill resumes from the last
checkpoint; rerunning a finished run does nothing. Extra arguments are verl overrides.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from typing import Optional
from collections.abc import Sequence

from interplay_verl.devices import verl_overrides
from interplay_verl.train import launch
from interplay_verl.train.pretrain import (DONE, StageConfigError, check_overrides, export_hf, final_checkpoint, finished,
                                          loss_curve, require_model)

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
PROFILES = {"cpu": "interplay_grpo_cpu", "paper": "interplay_grpo"}
CURVES = ("reward/score/mean", "reward/outcome/mean", "reward/process/mean", "reward/verified/mean",
          "edge/in_band", "edge/saturated", "edge/out_of_reach")


def rl_overrides(model: str, train: str, val: str, out: str, variant: Optional[str] = None,
                 alpha: Optional[float] = None, extra: Sequence[str] = ()) -> list[str]:
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
    return overrides + list(extra)


def config_command(profile: str, overrides: Sequence[str], device: launch.Device, n_workers: int = 1) -> list[str]:
    """``main_ppo`` on our config: device overrides first, so the caller's can replace them."""
    return [sys.executable, "-m", "verl.trainer.main_ppo", "--config-path", CONFIG_DIR, "--config-name",
            PROFILES[profile], *verl_overrides(device, "ppo", n_workers), *overrides]


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


def check_config(profile: str, overrides: Sequence[str], device: launch.Device, n_workers: int = 1):
    """Compose the final config and check what verl cannot: the reward's knobs and the filter's."""
    from interplay_verl.filters.online import online_config
    from interplay_verl.rewards.composite import check_reward_kwargs

    if profile not in PROFILES:
        raise StageConfigError(f"--profile {profile!r}: choose one of {', '.join(PROFILES)}")
    cfg = check_overrides([*verl_overrides(device, "ppo", n_workers), *overrides], PROFILES[profile], CONFIG_DIR)
    verl_validate(cfg)
    kwargs = cfg.reward.custom_reward_function.get("reward_kwargs") or {}
    try:
        check_reward_kwargs(kwargs.get("variant", "gated"), kwargs.get("alpha", 0.2))
        online_config(cfg)
    except ValueError as exc:
        raise StageConfigError(str(exc)) from None
    train_files = cfg.data.train_files
    for path in ([train_files] if isinstance(train_files, str) else list(train_files)):
        if not os.path.exists(path):
            raise StageConfigError(f"data.train_files: {path} does not exist (`interplay-verl filter` or "
                                   "`interplay-verl rl-data` writes one)")
    return cfg


def plot_curves(out: str, path: str) -> Optional[str]:
    from interplay_verl import plots

    curves = {key: loss_curve(out, key) for key in CURVES}
    return plots.rl_curves(curves, path) if any(curves.values()) else None


def run(profile: str, model: str, train: str, val: str, out: str, device: launch.Device = "cpu",
        variant: Optional[str] = None, alpha: Optional[float] = None, extra: Sequence[str] = (),
        n_workers: int = 1, extra_env: Optional[dict] = None, timeout: Optional[float] = None) -> dict:
    from interplay_verl.manifest import write_manifest

    out = os.path.abspath(out)
    done = finished(out, "rl")
    if done is not None:
        return done
    require_model(model)
    overrides = rl_overrides(model, train, val, out, variant, alpha, extra)
    launch.prepare(device)  # the device check, and VERL_PLATFORM for the config check's verl import
    cfg = check_config(profile, overrides, device, n_workers)
    os.makedirs(os.path.join(out, "metrics"), exist_ok=True)
    resumed_from = final_checkpoint(out)
    attempt = len(glob.glob(os.path.join(out, "metrics", "run-*.jsonl")))
    print(f"[rl] verl main_ppo ({PROFILES[profile]}) on {train} -> {out}"
          + (f" (resuming from {os.path.basename(resumed_from)})" if resumed_from else ""), flush=True)
    metrics = f"metrics/run-{attempt:02d}.jsonl"
    # verl logs from its TaskRunner actor, which inherits the launcher's environment only on a Ray
    # cluster of its own; on a running cluster (a Ray job) the path must travel in the runtime env
    logger_path = f"+ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH={os.path.join(out, metrics)}"
    launch.run_stage("RL", config_command(profile, [*overrides, logger_path], device, n_workers), device, out,
                     extra_env=extra_env, timeout=timeout, metrics_name=metrics, log_name=f"train-{attempt:02d}.log")
    hf = export_hf(out, inside=os.path.join("actor", "huggingface"))
    curves = {key: loss_curve(out, key) for key in CURVES}
    plot_curves(out, os.path.join(out, "rl.png"))
    score = curves["reward/score/mean"]
    result = {"hf": hf, "steps": score[-1][0] if score else 0, "score_first": score[0][1] if score else None,
              "score_last": score[-1][1] if score else None, "launches": attempt + 1,
              "resumed_from": os.path.basename(resumed_from) if resumed_from else None}
    from omegaconf import OmegaConf

    write_manifest(out, config={"profile": profile, "model": os.path.abspath(model), "train": os.path.abspath(train),
                                "val": os.path.abspath(val), "device": device, "extra_overrides": list(extra),
                                "verl": OmegaConf.to_container(cfg, resolve=False)},
                   seed=int(cfg.data.get("seed", 1) or 1), kind="rl", overrides=overrides, result=result,
                   curves=curves)
    with open(os.path.join(out, DONE), "w") as f:
        f.write(hf + "\n")
    return result


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="interplay-verl rl", description=__doc__.splitlines()[0],
                                epilog="Extra arguments are verl main_ppo overrides, e.g. trainer.total_training_steps=5.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--profile", choices=sorted(PROFILES), default="cpu", help="cpu: tiny CPU run; paper: SPEC section 10")
    p.add_argument("--model", required=True, help="starting model (the mid-training stage's hf/)")
    p.add_argument("--train", required=True, help="RL parquet (`interplay-verl filter` writes rl.parquet)")
    p.add_argument("--val", help="validation RL parquet (default: --train)")
    p.add_argument("--out", required=True, help="stage directory (checkpoints, metrics, hf/, rl.png, manifest)")
    from interplay_verl.rewards.composite import VARIANTS

    p.add_argument("--variant", choices=sorted(VARIANTS), help="reward variant (config: gated)")
    p.add_argument("--alpha", type=float, help="reward alpha (config: 0.2)")
    p.add_argument("--device", choices=["cpu", "gpu"], help="default: gpu for --profile paper, else cpu")
    p.add_argument("--n-workers", type=int, default=1, help="training processes per node (GPUs per node)")
    args, extra = p.parse_known_args(argv)
    bad = [e for e in extra if "=" not in e or e.startswith("-")]
    if bad:
        p.error(f"unrecognised arguments {bad}; verl overrides look like key=value")
    device = args.device or ("gpu" if args.profile == "paper" else "cpu")
    from interplay_verl.cli import report

    return report("rl", lambda: run(args.profile, args.model, args.train, args.val or args.train, args.out, device,
                                    args.variant, args.alpha, extra, args.n_workers),
                  (StageConfigError, launch.StageError))
