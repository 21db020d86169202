"""Build and run verl trainer commands with the device overrides already applied.

Every stage (pre-training, mid-training, RL) goes through here, so the device check runs
before any heavy work and no caller repeats the CPU/GPU knowledge of ``devices``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Optional
from collections.abc import Sequence

from interplay_verl.devices import CPU_ENV, Device, check_device, compose_verl_config, verl_overrides


class StageConfigError(ValueError):
    """A stage that cannot run as configured; the message names the key and the fix."""


def trainer_env(device: Device, extra: Optional[dict] = None) -> dict:
    env = dict(os.environ)
    if device == "cpu":
        env.update(CPU_ENV)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("RAY_DEDUP_LOGS", "1")
    for key, value in (extra or {}).items():  # None removes a variable
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def ppo_command(overrides: Sequence[str], device: Device, n_workers: int = 1) -> list[str]:
    """``python -m verl.trainer.main_ppo`` with device overrides first, so callers can override them."""
    return [sys.executable, "-m", "verl.trainer.main_ppo", *verl_overrides(device, "ppo", n_workers), *overrides]


def sft_overrides(overrides: Sequence[str], device: Device, nproc: int = 1) -> list[str]:
    """Device overrides first, so ``overrides`` can replace them."""
    return [*verl_overrides(device, "sft", nproc), *overrides]


LAUNCHERS = ("torchrun", "ray")


def sft_command(overrides: Sequence[str], device: Device, nproc: int = 1, launcher: str = "torchrun") -> list[str]:
    """verl's FSDP SFT trainer over ``nproc`` ranks per node (gloo processes on CPU, one per GPU).

    ``torchrun``: one machine (``verl.trainer.sft_trainer``). ``ray``: ``verl.trainer.sft_trainer_ray``
    on the Ray cluster in RAY_ADDRESS, ``trainer.nnodes`` x ``nproc`` workers placed by Ray."""
    if launcher == "ray":
        return [sys.executable, "-m", "verl.trainer.sft_trainer_ray", *sft_overrides(overrides, device, nproc)]
    if launcher != "torchrun":
        raise ValueError(f"launcher {launcher!r}: choose one of {', '.join(LAUNCHERS)}")
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or "torchrun"
    return [torchrun, "--standalone", f"--nproc_per_node={nproc}", "-m", "verl.trainer.sft_trainer",
            *sft_overrides(overrides, device, nproc)]


def prepare(device: Device, extra_env: Optional[dict] = None) -> dict:
    """Check the device before any heavy work; return the environment a trainer runs with."""
    if device == "cpu":
        os.environ.update(CPU_ENV)  # the check inspects this process's view of verl
    check_device(device)
    return trainer_env(device, extra_env)


def run(cmd: Sequence[str], device: Device, log_path: Optional[str] = None, cwd: Optional[str] = None,
        extra_env: Optional[dict] = None, timeout: Optional[float] = None) -> subprocess.CompletedProcess:
    """Check the device, then run ``cmd``; output goes to ``log_path`` (and is echoed if None)."""
    env = prepare(device, extra_env)
    if log_path is None:
        return subprocess.run(list(cmd), env=env, cwd=cwd, timeout=timeout, check=False)
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    with open(log_path, "w") as log:
        return subprocess.run(list(cmd), env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False)


def check_overrides(overrides: Sequence[str], config_name: str = "sft_trainer_engine",
                    config_dir: Optional[str] = None):
    """Compose verl's Hydra config with ``overrides`` (no training): unknown keys fail here, in seconds."""
    try:
        return compose_verl_config(overrides, config_name, config_dir)
    except ValueError as exc:
        raise StageConfigError(str(exc)) from None


def not_overrides(extra: Sequence[str]) -> list[str]:
    """Command-line leftovers that are not Hydra overrides (``key=value``, or ``~key`` to delete one)."""
    return [e for e in extra if e.startswith("-") or ("=" not in e and not e.startswith("~"))]


def check_saves(cfg, stage: str):
    """A trainer stage must checkpoint: the HF export reads the last checkpoint and a rerun resumes
    from one. verl's PPO trainer saves nothing at ``trainer.save_freq`` <= 0 (its default, -1)."""
    freq = cfg.trainer.get("save_freq", -1)
    if not isinstance(freq, int) or isinstance(freq, bool) or freq <= 0:
        steps = cfg.trainer.get("total_training_steps")
        hint = f" (e.g. {max(1, int(steps) // 10)} for {steps} steps)" if isinstance(steps, int) and steps > 0 else ""
        raise StageConfigError(f"{stage}: trainer.save_freq={freq} saves no checkpoint, so the stage could not "
                               f"export its model or resume after a kill; set trainer.save_freq > 0{hint}")
    return cfg


class StageError(RuntimeError):
    """A trainer stage exited non-zero; the message carries the log's tail."""


def read_metrics(path: str) -> list[dict]:
    """verl's file logger: one JSON object per logged step, ``{"step": n, "data": {...}}``. A launch
    killed mid-write leaves a partial last line, which is not a step."""
    with open(path) as f:
        lines = [line for line in f if line.strip()]
    out = []
    for number, line in enumerate(lines):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if number != len(lines) - 1:
                raise
    return out


def hydra_run_dir(cmd: Sequence[str], path: str) -> list[str]:
    """The override that puts a verl trainer's Hydra output (the composed config, its own log) in
    ``path``. Without it every launch leaves ``outputs/<date>/<time>/`` in the caller's working
    directory, beside (or inside) the user's own outputs. An explicit ``hydra.run.dir`` wins."""
    return [] if any(str(c).startswith("hydra.run.dir=") for c in cmd) else [f"hydra.run.dir={path}"]


def run_stage(name: str, cmd: Sequence[str], device: Device, stage_dir: str, extra_env: Optional[dict] = None,
              timeout: Optional[float] = None, metrics_name: str = "metrics.jsonl",
              log_name: str = "train.log") -> list[dict]:
    """Run one trainer into ``stage_dir`` (``train.log``, ``metrics.jsonl``); return its logged metrics.

    The command must log with verl's ``file`` backend (``trainer.logger=[...,file]``), which
    truncates its file at start: a resumable stage passes a new ``metrics_name`` per launch.
    """
    log, metrics = os.path.join(stage_dir, log_name), os.path.join(stage_dir, metrics_name)
    os.makedirs(os.path.dirname(metrics), exist_ok=True)
    cmd = [*cmd, *hydra_run_dir(cmd, os.path.join(stage_dir, "hydra", os.path.splitext(log_name)[0]))]
    proc = run(cmd, device, log_path=log, timeout=timeout, extra_env={"VERL_FILE_LOGGER_PATH": metrics, **(extra_env or {})})
    if proc.returncode != 0:
        with open(log) as f:
            tail = f.read()[-4000:]
        raise StageError(f"{name} failed (exit {proc.returncode}); full log: {log}\n{tail}")
    return read_metrics(metrics)
