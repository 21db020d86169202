#!/usr/bin/env bash
# Install interplay-verl on a GPU node (every node of a cluster, or the image they share).
#
#   bash recipes/setup_gpu.sh                 # into .venv (VENV=... elsewhere; VENV=system: the current python)
#   FLASH_ATTN=0 bash recipes/setup_gpu.sh    # skip flash-attn: training uses PyTorch's sdpa attention
#
# What it installs: the `gpu` extra of setup.py, i.e. verl 0.9.1 with its own `vllm` extra
# (vllm 0.24.0, which pins torch 2.11.0 and transformers 5.9.0). That torch is a CUDA 13 build:
# the node needs an NVIDIA driver >= 580 (`nvidia-smi` shows "CUDA Version: 13.0" or later).
# flash-attn comes last, as its own docs require: its build imports torch, which pip's build
# isolation hides, so it is installed after torch with --no-build-isolation (a source build:
# nvcc and ~10-30 minutes unless a matching wheel is cached). If it fails, the install still
# succeeds and the trainers fall back to sdpa attention (interplay_verl/devices.py); it is a
# speed-up, not a requirement.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"

if command -v nvidia-smi >/dev/null 2>&1; then
  driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -n1)
  echo "[setup_gpu] NVIDIA driver $driver"
  if [ "${driver%%.*}" -lt 580 ]; then
    echo "[setup_gpu] WARNING: torch 2.11.0 (vllm 0.24.0's pin) is a CUDA 13 build and needs driver >= 580;" >&2
    echo "[setup_gpu]          with driver $driver torch will see no GPU. Update the driver first." >&2
  fi
else
  echo "[setup_gpu] WARNING: no nvidia-smi on this node: is it a GPU node? (a CPU machine wants recipes/setup_cpu.sh)" >&2
fi

if [ "$VENV" = system ]; then
  py="$PYTHON"
else
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  py="$VENV/bin/python"
fi
"$py" -m pip install --upgrade pip
"$py" -m pip install -e '.[gpu,test]'

if [ "${FLASH_ATTN:-1}" = "1" ]; then
  # the version verl 0.9.1's `fsdp` extra pins
  if ! MAX_JOBS="${MAX_JOBS:-4}" "$py" -m pip install --no-build-isolation flash-attn==2.8.3; then
    echo "[setup_gpu] flash-attn did not install; training uses sdpa attention (slower, same results)." >&2
  fi
fi
"$py" -m interplay_verl.cli doctor || true
