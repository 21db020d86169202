"""The installs a user runs: the GPU extra still resolves (pip's resolver, no GPU needed)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow  # ~40 s of index metadata
def test_gpu_extra_resolves_to_verls_vllm_pins(tmp_path):
    """`pip install -e '.[gpu]'` on a fresh GPU node: resolved as pip would install it, without
    installing. flash-attn is not in the extra (its source build needs torch at build time;
    recipes/setup_gpu.sh installs it afterwards)."""
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                           "--report", str(report), f"{ROOT}[gpu]"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    resolved = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}
    assert {k: resolved.get(k) for k in ("verl", "vllm", "torch", "transformers", "flash-attn")} == {
        "verl": "0.9.1", "vllm": "0.24.0", "torch": "2.11.0", "transformers": "5.9.0", "flash-attn": None}
    assert resolved["nvidia-cuda-runtime"].startswith("13.")  # the CUDA 13 build README's driver note is about
    assert resolved["interplay-verl"] == "0.1.0" and resolved["ray"]


def test_setup_gpu_installs_the_extra_then_flash_attn_without_build_isolation():
    script = open(os.path.join(ROOT, "recipes", "setup_gpu.sh")).read()
    assert subprocess.run(["bash", "-n", os.path.join(ROOT, "recipes", "setup_gpu.sh")]).returncode == 0
    extra, flash = script.index("pip install -e '.[gpu,test]'"), script.index("--no-build-isolation flash-attn==")
    assert extra < flash  # torch (from the extra) first: flash-attn's build imports it
