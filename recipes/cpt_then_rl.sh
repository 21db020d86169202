#!/usr/bin/env bash
# The study end to end, from one profile (interplay_verl/pipeline/):
#   data       generate pre-/mid-training problems, RL candidates, held-out ID / OOD-edge / OOD-hard sets
#   tokenizer  byte-level BPE on the pre-training text
#   corpus     tokenize and pack whole documents into fixed-length blocks
#   init       a random Qwen2 of the profile's size
#   pretrain   verl's FSDP SFT trainer on the packed corpus
#   midtrain   the same trainer from the pre-trained model, on the mid-training mixture
#   filter     keep the RL candidates at the model's edge of competence (adaptive sampling)
#   rl         GRPO through verl's Ray trainer: process-verification reward, online filter
#   evaluate   sample base / mid / RL on the held-out sets, verify every sample, pass@k
#   report     one comparison table and plot
#
#   bash recipes/cpt_then_rl.sh                           # tiny profile: 2-core CPU
#   PROFILE=smoke bash recipes/cpt_then_rl.sh             # every stage at the smallest sizes (CI)
#   bash recipes/cpt_then_rl.sh --set rl.variant=strict   # any setting; or IV__RL__VARIANT=strict
#   bash recipes/cpt_then_rl.sh --only filter,rl          # some stages (their upstream ones must be done)
#   NO_SETUP=1 PROFILE=paper bash recipes/cpt_then_rl.sh  # GPU cluster (or recipes/submit_ray.sh)
#   the paper's four studies, every arm: interplay-verl study recipes/studies/<study>.yaml (docs/studies.md)
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
