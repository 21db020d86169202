#!/usr/bin/env bash
# Create (or refresh) the project virtualenv at .venv for a machine without a GPU.
# torch==2.13.0 (CPU build) goes in first and stays pinned for everything after it.
# Idempotent: skips pip when setup.py, the constraints and the compiled verifier's C source
# (interplay_verl/verify/_native.c, built in place by the editable install) are unchanged.
# FRESH_VENV=1 rebuilds .venv from scratch.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] < (3, 13)))'; then
  echo "setup_cpu.sh: need Python 3.10-3.12, $PYTHON is $("$PYTHON" --version 2>&1). Set PYTHON=..." >&2
  exit 1
fi
if [ "${FRESH_VENV:-0}" = "1" ]; then rm -rf .venv; fi
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv
fi

stamp=.venv/.interplay-setup
want=$(cat setup.py recipes/constraints-cpu.txt recipes/setup_cpu.sh interplay_verl/verify/_native.c | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
log=.venv/setup.log  # pip's full output (hundreds of build warnings); shown only on failure
echo "[setup] installing torch (CPU) and interplay-verl[test] into .venv (log: $log)"
quiet() {
  if ! "$@" >>"$log" 2>&1; then
    echo "[setup] FAILED: $*" >&2
    tail -n 40 "$log" >&2
    echo "[setup] full log: $log" >&2
    exit 1
  fi
}
: > "$log"
quiet .venv/bin/python -m pip install --upgrade pip
quiet .venv/bin/python -m pip install -c recipes/constraints-cpu.txt torch==2.13.0
quiet .venv/bin/python -m pip install -c recipes/constraints-cpu.txt -e '.[test]'
.venv/bin/python -c 'import torch, verl; assert torch.__version__.startswith("2.13.0"), torch.__version__' 2>/dev/null
if ! .venv/bin/python -c 'import interplay_verl.verify._native' 2>/dev/null; then
  echo "[setup] WARNING: the compiled verifier did not build (no C compiler?); the reward falls back to" >&2
  echo "[setup]          pure Python (same scores, slower) and the tests of the compiled verifier fail" >&2
fi
echo "$want" > "$stamp"
echo "[setup] done: $(.venv/bin/python -c 'import torch, verl, transformers; print("torch", torch.__version__, "verl", verl.__version__, "transformers", transformers.__version__)' 2>/dev/null)"
