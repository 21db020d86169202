#!/usr/bin/env bash
# The study end to end, from one configuration (interplay_verl/pipeline.py):
#   data -> tokenizer -> corpus -> random Qwen2 -> pre-train (verl FSDP SFT) -> mid-train (CPT mixture)
#   -> offline edge-of-competence filter -> RL (verl GRPO, gated process reward, online filter)
#   -> evaluate base / mid / RL on ID, OOD-edge, OOD-hard -> comparison report
#
#   bash recipes/cpt_then_rl.sh                           # tiny profile: 2-core CPU, < 20 minutes
#   PROFILE=smoke bash recipes/cpt_then_rl.sh             # every stage at the smallest sizes (CI)
#   CONFIG=recipes/experiments/reward_outcome.yaml bash recipes/cpt_then_rl.sh
#   bash recipes/cpt_then_rl.sh --set rl.variant=strict   # any knob; or IV__RL__VARIANT=strict
#   NO_SETUP=1 PROFILE=paper bash recipes/cpt_then_rl.sh  # GPU cluster (or recipes/submit_ray.sh)
#
# Rerun after a kill: finished stages are skipped, trainers resume from their last checkpoint.
# The report: $OUT/report/comparison.md (OUT defaults to the profile's `out`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PROFILE=${PROFILE:-tiny}
CONFIG=${CONFIG:-recipes/profiles/$PROFILE.yaml}
if [ -z "${NO_SETUP:-}" ] && [ "$PROFILE" != paper ]; then
  bash recipes/setup_cpu.sh
fi
[ -d .venv/bin ] && [ -z "${NO_SETUP:-}" ] && export PATH="$PWD/.venv/bin:$PATH"
PYTHON=${PYTHON:-python}
export TOKENIZERS_PARALLELISM=false
"$PYTHON" -m interplay_verl.cli doctor
exec "$PYTHON" -m interplay_verl.cli pipeline --config "$CONFIG" ${OUT:+--out "$OUT"} "$@"
