"""Our verl plugin must be loud when absent, and the device overrides must fit verl's config."""

import json
import os
import subprocess
import sys

import pytest

from interplay_verl.devices import DeviceSetupError, check_device, verl_overrides

CHECK = """
import json
from interplay_verl.devices import check_device, DeviceSetupError
from interplay_verl.devices import plugin_status, require_plugin
try:
    check_device("cpu"); err = None
except DeviceSetupError as e:
    err = str(e)
try:
    require_plugin(); req = None
except RuntimeError as e:
    req = str(e)
print(json.dumps(dict(status=plugin_status(), check=err, require=req)))
"""


def run_check(prelude: str = "", **env) -> dict:
    full = {k: v for k, v in os.environ.items() if k not in ("VERL_PLATFORM", "VERL_USE_EXTERNAL_PLUGINS")}
    full.update(env)
    proc = subprocess.run([sys.executable, "-c", prelude + CHECK], env=full, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_plugin_loads_through_entry_point():
    out = run_check(VERL_PLATFORM="cpu")
    assert out["status"]["plugin_loaded"] and out["status"]["cpu_backend_active"]
    assert out["check"] is None and out["require"] is None


def test_missing_plugin_is_loud():
    out = run_check(VERL_PLATFORM="cpu", VERL_USE_EXTERNAL_PLUGINS="none")
    assert not out["status"]["plugin_loaded"]
    assert "VERL_USE_EXTERNAL_PLUGINS='none' excludes it" in out["require"]
    assert "plugin is not active" in out["check"] and "pip install -e ." in out["check"]


def test_broken_plugin_is_loud():
    # make the plugin's import fail inside verl's discovery, which swallows the error
    prelude = "import sys; sys.modules['interplay_verl.backends.cpu.rollout'] = None\n"
    out = run_check(prelude, VERL_PLATFORM="cpu")
    assert not out["status"]["plugin_loaded"]
    assert "import failed: ModuleNotFoundError" in out["require"] and "cpu.rollout" in out["require"]
    assert "plugin is not active" in out["check"]


def test_no_gpu_and_no_cpu_platform_says_what_to_do():
    out = run_check()
    assert "Set VERL_PLATFORM=cpu" in out["check"]


def test_gpu_requested_on_cpu_machine():
    with pytest.raises(DeviceSetupError, match="no CUDA GPU"):
        check_device("gpu")


def test_doctor_cli(tmp_path):
    env = {**os.environ, "VERL_PLATFORM": "cpu"}
    proc = subprocess.run([sys.executable, "-m", "interplay_verl.cli", "doctor", "--json"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["verl"] == "0.9.1" and info["torch"].startswith("2.13.0")
    assert info["verl device"] == "cpu" and info["plugin loaded"] is True and info["cpu backend active"] is True
    assert info["vllm importable"] is False and info["flash_attn importable"] is False
    assert info["compiled verifier"] == "yes (verify/_native.c)"
    proc = subprocess.run([sys.executable, "-m", "interplay_verl.cli", "doctor", "--json"], capture_output=True,
                          env={**env, "INTERPLAY_VERL_PURE_PYTHON": "1"}, text=True, timeout=300)
    assert json.loads(proc.stdout.strip().splitlines()[-1])["compiled verifier"].startswith("no: INTERPLAY_VERL_PURE")
    env["VERL_USE_EXTERNAL_PLUGINS"] = "none"
    proc = subprocess.run([sys.executable, "-m", "interplay_verl.cli", "doctor"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "excludes it" in proc.stdout


def test_overrides_reject_unknown_device():
    with pytest.raises(ValueError, match="device must be 'cpu' or 'gpu'"):
        verl_overrides("tpu")
    with pytest.raises(ValueError, match="trainer must be"):
        verl_overrides("cpu", trainer="dpo")


def _compose(config_name: str, overrides: list[str]):
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        return compose(config_name=config_name, overrides=overrides)


@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_ppo_overrides_compose_with_verls_config(device, monkeypatch):
    from interplay_verl import devices

    monkeypatch.setattr(devices, "has_flash_attn", lambda: True)  # a GPU node where setup_gpu.sh built it
    cfg = _compose("ppo_trainer", verl_overrides(device, "ppo", n_workers=2))
    rollout = cfg.actor_rollout_ref.rollout
    assert cfg.actor_rollout_ref.actor.strategy == "fsdp2" and cfg.actor_rollout_ref.ref.strategy == "fsdp2"
    assert cfg.trainer.n_gpus_per_node == 2
    if device == "cpu":
        assert rollout.name == "cpu" and rollout.tensor_model_parallel_size == 1 and cfg.trainer.device == "cpu"
        assert cfg.actor_rollout_ref.model.override_config.attn_implementation == "sdpa"
        assert cfg.ray_kwargs.ray_init.num_gpus == 2 and cfg.ray_kwargs.ray_init.runtime_env.env_vars.VERL_PLATFORM == "cpu"
        assert rollout.agent.num_workers == 1 and cfg.reward.num_workers == 1
        # the speed settings (docs/rl.md#grpo-speed-on-cpu); Ray takes env vars only as strings
        threads = cfg.ray_kwargs.ray_init.runtime_env.env_vars.OMP_NUM_THREADS
        assert isinstance(threads, str) and threads == str(max(1, (os.cpu_count() or 1) // 2))
        actor = cfg.actor_rollout_ref.actor
        assert not cfg.actor_rollout_ref.model.enable_gradient_checkpointing
        assert actor.fsdp_config.mixed_precision.param_dtype == "fp32" == cfg.actor_rollout_ref.ref.fsdp_config.mixed_precision.param_dtype
        assert rollout.dtype == "float32" and cfg.actor_rollout_ref.model.use_remove_padding is False
    else:
        assert rollout.name == "vllm" and cfg.trainer.device == "cuda"
        assert cfg.actor_rollout_ref.model.override_config.attn_implementation == "flash_attention_2"
        monkeypatch.setattr(devices, "has_flash_attn", lambda: False)  # skipped or failed to build: sdpa
        without = _compose("ppo_trainer", verl_overrides(device, "ppo", n_workers=2))
        assert without.actor_rollout_ref.model.override_config.attn_implementation == "sdpa"


@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_sft_overrides_compose_with_verls_config(device):
    cfg = _compose("sft_trainer_engine", verl_overrides(device, "sft", n_workers=2))
    assert cfg.engine.strategy == "fsdp2" and cfg.trainer.n_gpus_per_node == 2
    assert cfg.trainer.device == ("cpu" if device == "cpu" else "cuda")


def test_a_composition_is_made_once_and_each_caller_gets_its_own_copy(monkeypatch):
    """A study checks three verl configs per arm, most alike; Hydra composes each only once."""
    from omegaconf import OmegaConf

    from interplay_verl import devices

    calls = []
    monkeypatch.setattr(devices, "_COMPOSED", {})
    compose = devices._compose
    monkeypatch.setattr(devices, "_compose", lambda *a: calls.append(a) or compose(*a))
    first = devices.compose_verl_config(["trainer.total_epochs=3"])
    OmegaConf.update(first, "trainer.total_epochs", 5)  # a caller's change stays its own
    second = devices.compose_verl_config(["trainer.total_epochs=3"])
    assert second.trainer.total_epochs == 3 and OmegaConf.is_struct(second) and len(calls) == 1
    assert OmegaConf.to_yaml(second) == OmegaConf.to_yaml(compose(["trainer.total_epochs=3"], "ppo_trainer", None))
    assert devices.compose_verl_config(["trainer.total_epochs=4"]).trainer.total_epochs == 4 and len(calls) == 2
    with pytest.raises(ValueError, match="verl rejects the overrides"):  # a rejection is not kept
        devices.compose_verl_config(["trainer.no_such_key=1"])
    assert len(devices._COMPOSED) == 2
