"""The verl ``cpu`` platform and the fixes our plugin applies, each in a fresh process."""

import json
import os
import socket
import subprocess
import sys

import pytest

from interplay_verl.backends.cpu.patches import _dedupe_backend


def run_py(code: str, **env) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("VERL_PLATFORM", "VERL_USE_EXTERNAL_PLUGINS")}
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=300)


def last_json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


PROBE = """
import json, torch, verl
from verl.utils.device import get_device_name, get_nccl_backend, get_device_id, get_torch_device, get_resource_name
from verl.workers.engine.base import EngineRegistry
from verl.workers.rollout.replica import RolloutReplicaRegistry
from verl.workers.rollout.base import get_rollout_class
dm = get_torch_device()
out = dict(device=get_device_name(), backend=get_nccl_backend(), resource=get_resource_name())
try:
    out["device_id"] = str(get_device_id())
except Exception as e:
    out["device_id"] = "error"
try:
    out["engine"] = EngineRegistry.get_engine_cls("language_model", "fsdp2").__name__
except Exception as e:
    out["engine"] = "error: " + str(e)[:80]
try:
    out["replica"] = RolloutReplicaRegistry.get("cpu").__name__
    out["adapter"] = get_rollout_class("cpu").__name__
except Exception as e:
    out["replica"] = "error"
if out["device"] == "cpu":
    dm.empty_cache(); dm.synchronize()
    free, total = dm.mem_get_info()
    state = dm.get_rng_state(); a = torch.rand(3); dm.set_rng_state(state); b = torch.rand(3)
    out.update(mem_ok=0 < free <= total, rng_ok=bool(torch.equal(a, b)), allocated=dm.memory_allocated() > 0,
               pinned=torch.zeros(2).pin_memory().device.type, count=dm.device_count())
print(json.dumps(out))
"""


def test_cpu_platform_selected_by_env():
    out = last_json(run_py(PROBE, VERL_PLATFORM="cpu"))
    assert out["device"] == "cpu" and out["backend"] == "gloo" and out["device_id"] == "cpu"
    assert out["resource"] == "GPU"  # Ray counts the logical GPUs we start it with
    assert out["engine"] == "FSDPEngineWithLMHead"
    assert (out["replica"], out["adapter"]) == ("CPURolloutReplica", "CPUServerAdapter")
    assert out["mem_ok"] and out["rng_ok"] and out["allocated"] and out["count"] == 1
    assert out["pinned"] == "cpu"


def test_cpu_platform_never_auto_detected():
    out = last_json(run_py(PROBE))
    # no GPU here and no VERL_PLATFORM: verl falls back to its NVIDIA default, not to us,
    # and none of the CPU fixes are applied
    assert out["device"] == "cuda" and out["backend"] in ("nccl", "flagcx")
    assert out["replica"] == "error" and out["device_id"] == "error"


def test_is_platform_available_is_false_even_on_cpu():
    from interplay_verl.backends.cpu.platform import PlatformCPU

    assert PlatformCPU().is_platform_available(use_smi_check=True) is False
    assert PlatformCPU().is_available() is True


@pytest.mark.parametrize(
    "given,expected",
    [("cpu:gloo,cpu:gloo", "cpu:gloo"), ("cpu:gloo,cuda:nccl", "cpu:gloo,cuda:nccl"), ("gloo", "gloo"), (None, None)],
)
def test_dedupe_backend(given, expected):
    assert _dedupe_backend(given) == expected


def test_verl_process_group_initialises_on_cpu():
    with socket.socket() as s:  # a free port on loopback
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = f"""
import json, torch.distributed as dist, verl
from verl.utils.distributed import initialize_global_process_group
import os
os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT="{port}")
initialize_global_process_group()
import torch
t = torch.ones(2); dist.all_reduce(t)
print(json.dumps(dict(backend=str(dist.get_backend()), world=dist.get_world_size(), sum=t.tolist())))
dist.destroy_process_group()
"""
    out = last_json(run_py(code, VERL_PLATFORM="cpu"))
    assert out == {"backend": "cpu:gloo", "world": 1, "sum": [1.0, 1.0]}
