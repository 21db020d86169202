"""The verl overrides that make a run work on a CPU machine or a GPU cluster, in one place.

Recipes and users ask ``verl_overrides("cpu" | "gpu", trainer=...)`` instead of knowing that
a CPU run needs sdpa attention, FSDP2, the ``cpu`` rollout, logical Ray GPUs and few
workers, or that a GPU run wants flash attention and vLLM.
"""

from __future__ import annotations

import importlib
import importlib.util
import importlib.metadata as md
import os
import sys
from collections.abc import Sequence
from typing import Literal, Optional

from interplay_verl.cluster import on_cluster

Device = Literal["cpu", "gpu"]
Trainer = Literal["ppo", "sft"]

CPU_ENV = {"VERL_PLATFORM": "cpu"}
ENTRY_POINT = "interplay_verl"  # our entry point in verl's `verl.plugins` group


class DeviceSetupError(RuntimeError):
    """Raised before any heavy work when the machine and the requested device disagree."""


def gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:
        return 0


def has_flash_attn() -> bool:
    """flash-attn is optional (recipes/setup_gpu.sh may skip it); without it GPU runs use sdpa."""
    return importlib.util.find_spec("flash_attn") is not None


def verl_overrides(device: Device, trainer: Trainer = "ppo", n_workers: int = 1) -> list[str]:
    """Hydra overrides for ``verl.trainer.main_ppo`` (``ppo``) or ``verl.trainer.sft_trainer`` (``sft``).

    ``n_workers``: training processes per node (GPUs on a GPU node; gloo ranks on CPU).
    """
    if device not in ("cpu", "gpu"):
        raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
    if trainer not in ("ppo", "sft"):
        raise ValueError(f"trainer must be 'ppo' or 'sft', got {trainer!r}")
    attn = "sdpa" if device == "cpu" or not has_flash_attn() else "flash_attention_2"
    verl_device = "cpu" if device == "cpu" else "cuda"
    if trainer == "sft":
        out = [
            f"+model.override_config.attn_implementation={attn}",
            "engine.strategy=fsdp2",
            f"trainer.device={verl_device}",
            f"trainer.n_gpus_per_node={n_workers}",
        ]
        if device == "cpu":
            out += ["data.num_workers=0", "model.use_remove_padding=False"]
        return out

    out = [
        f"+actor_rollout_ref.model.override_config.attn_implementation={attn}",
        "actor_rollout_ref.actor.strategy=fsdp2",
        "actor_rollout_ref.ref.strategy=fsdp2",
        "critic.strategy=fsdp2",
        f"actor_rollout_ref.rollout.name={'cpu' if device == 'cpu' else 'vllm'}",
        f"trainer.device={verl_device}",
        f"trainer.n_gpus_per_node={n_workers}",
        # TransferQueue spreads its storage actors over every node, pinned; a head without
        # devices (often with --num-cpus=0) cannot host them: keep them on the device nodes
        "++transfer_queue.backend.SimpleStorage.required_node_resource=GPU",
    ]
    if device == "cpu":
        out += ["actor_rollout_ref.rollout.tensor_model_parallel_size=1"]
        if not on_cluster():
            # verl's resource pools count GPUs: give Ray one logical GPU per worker, and enough
            # logical CPUs for its bundles (3 each) and helper actors. Connecting to a running
            # cluster (a Ray job sets RAY_ADDRESS), ray.init may not set resources: start that
            # cluster with them (`ray start --head --num-cpus 32 --num-gpus 1`).
            out += [f"+ray_kwargs.ray_init.num_gpus={n_workers}", "ray_kwargs.ray_init.num_cpus=32"]
        out += [
            f"+ray_kwargs.ray_init.runtime_env.env_vars.VERL_PLATFORM={CPU_ENV['VERL_PLATFORM']}",
            # Each Ray actor costs a full torch + transformers + verl import (~0.3 GB).
            "actor_rollout_ref.rollout.agent.num_workers=1",
            "reward.num_workers=1",
            "data.dataloader_num_workers=0",
            "actor_rollout_ref.rollout.free_cache_engine=False",
            *cpu_speed_overrides(n_workers),
        ]
    return out


def cpu_threads(n_workers: int = 1) -> int:
    """Threads per training process: the machine's cores shared by the ranks. A step's phases
    (generation, log-probs, update) run one after another, so each may use every core."""
    return max(1, (os.cpu_count() or 1) // max(1, n_workers))


def cpu_speed_overrides(n_workers: int = 1) -> list[str]:
    """What makes a CPU GRPO step cost what its arithmetic costs (docs/rl.md#grpo-speed-on-cpu,
    each found by a profile there). verl's defaults are for GPUs: flattened sequences (cheap with
    flash-attention, quadratic with sdpa), activation recomputation, a bf16 actor and rollout, and
    Ray's one thread for an actor that reserves no CPU."""
    threads = cpu_threads(n_workers)
    return [
        # padded, not flattened: with sdpa, transformers masks a flattened micro-batch with one dense
        # block-diagonal mask over all its tokens, quadratic in them (4-8x slower here)
        "actor_rollout_ref.model.use_remove_padding=False",
        "actor_rollout_ref.model.enable_gradient_checkpointing=False",  # a model this small needs none
        "++actor_rollout_ref.actor.fsdp_config.mixed_precision.param_dtype=fp32",
        "++actor_rollout_ref.ref.fsdp_config.mixed_precision.param_dtype=fp32",
        "actor_rollout_ref.rollout.dtype=float32",
        # Ray gives an actor one thread per CPU it reserved (the rollout server reserves none: 1)
        f"+ray_kwargs.ray_init.runtime_env.env_vars.OMP_NUM_THREADS='{threads}'",  # a string, as Ray wants
        # TransferQueue's 8 storage actors (verl's default, sized for many nodes) each cost a process
        # (~0.25 GB) and a few % of a core polling, taken from the generation beside them
        "transfer_queue.backend.SimpleStorage.num_data_storage_units=2",
    ]


_COMPOSED: dict = {}  # (config_dir, config_name, overrides) -> the composed config, for copies


def compose_verl_config(overrides: Sequence[str], config_name: str = "ppo_trainer", config_dir: Optional[str] = None):
    """verl's Hydra config ``config_name`` composed with ``overrides``, as its trainers would see it.

    ``config_dir``: a folder of configs that extend verl's (searchpath ``pkg://verl.trainer.config``);
    verl's own config folder when None. Unknown keys raise ``ValueError`` here, in seconds.
    A composition takes 0.5-1.5 s and a study checks three per arm, most of them alike (the paper's
    compute study: 37 arms, one pre-training), so each is composed once per process and the caller
    gets its own copy (interpolations stay unresolved: environment variables are read on use).
    """
    import copy

    key = (config_dir, config_name, tuple(overrides))
    if key not in _COMPOSED:
        _COMPOSED[key] = _compose(list(overrides), config_name, config_dir)
    return copy.deepcopy(_COMPOSED[key])


def _compose(overrides: list[str], config_name: str, config_dir: Optional[str]):
    import warnings

    with warnings.catch_warnings():  # verl warns about every engine it cannot import
        warnings.simplefilter("ignore")
        import verl
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    config_dir = config_dir or os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        try:
            return compose(config_name, overrides=overrides)
        except HydraException as exc:
            raise ValueError(f"verl rejects the overrides: {exc}") from None


def check_device(device: Device) -> None:
    """Fail fast, with the fix, instead of deep inside verl."""
    if device == "gpu":
        if on_cluster():
            return  # on a Ray cluster the devices are Ray's to count (cluster.check_devices, before any stage)
        if gpu_count() == 0:
            raise DeviceSetupError(
                "device 'gpu' was requested but torch sees no CUDA GPU on this machine. "
                "Run with --device cpu (tiny profile) or on a GPU node."
            )
        return
    if gpu_count() > 0 and os.environ.get("VERL_PLATFORM", "").lower() != "cpu":
        return
    status = plugin_status()
    if os.environ.get("VERL_PLATFORM", "").strip().lower() != "cpu":
        raise DeviceSetupError(
            "this machine has no GPU and verl would fall back to CUDA. Set VERL_PLATFORM=cpu "
            "(our launchers do this with --device cpu), e.g. `VERL_PLATFORM=cpu interplay-verl doctor`."
        )
    if not status["cpu_backend_active"]:
        raise DeviceSetupError(
            "VERL_PLATFORM=cpu is set but interplay_verl's verl plugin is not active "
            f"({status['reason']}). Reinstall with `pip install -e .` (it registers the "
            "`verl.plugins` entry point) and make sure VERL_USE_EXTERNAL_PLUGINS is unset or "
            "names `interplay_verl`; `interplay-verl doctor` shows the details."
        )


def plugin_status() -> dict:
    """Import verl (which loads plugins) and report whether ours actually loaded."""
    import verl  # noqa: F401  (runs verl's plugin discovery in this process)

    eps = [ep for ep in md.entry_points(group="verl.plugins") if ep.name == ENTRY_POINT]
    loaded = bool(getattr(sys.modules.get("interplay_verl.plugin"), "LOADED", False))
    reason = "loaded"
    if not eps:
        reason = "entry point `interplay_verl` of group `verl.plugins` is not installed"
    elif not loaded:
        policy = os.environ.get("VERL_USE_EXTERNAL_PLUGINS", "auto")
        if policy.strip().lower() == "none" or (
            policy.strip().lower() != "auto" and ENTRY_POINT not in [p.strip() for p in policy.split(",")]
        ):
            reason = f"VERL_USE_EXTERNAL_PLUGINS={policy!r} excludes it"
        else:
            try:
                importlib.import_module(eps[0].value)
                reason = "verl did not load it"
            except Exception as exc:  # the error verl swallowed
                reason = f"import failed: {type(exc).__name__}: {exc}"
    from interplay_verl.backends import cpu

    return {
        "entry_point_installed": bool(eps),
        "plugin_loaded": loaded,
        # activate() is a no-op unless VERL_PLATFORM=cpu; it covers a process that imported
        # verl before setting the variable (the plugin ran, but with the backend off).
        "cpu_backend_active": loaded and (cpu.is_active() or cpu.activate()),
        "reason": reason,
    }


def require_plugin() -> None:
    """Raise if verl did not load our plugin (used by launchers and the test suite)."""
    status = plugin_status()
    if not status["plugin_loaded"]:
        raise RuntimeError(f"interplay_verl's verl plugin is not active: {status['reason']}")
