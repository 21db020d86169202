#!/usr/bin/env bash
# The study end to end. Today (Foundation): set-up, a device check, and the tiny smoke run of
# verl's SFT and GRPO trainers on toy data; later stages (generator, process reward, filters,
# evaluation) slot in here as they land. Extra args go to `interplay-verl smoke`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash recipes/setup_cpu.sh
export VERL_PLATFORM="${VERL_PLATFORM:-cpu}" TOKENIZERS_PARALLELISM=false
.venv/bin/interplay-verl doctor
.venv/bin/interplay-verl smoke --out "${OUT:-outputs/tiny}" "$@"
