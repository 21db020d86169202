#!/usr/bin/env bash
# RL on the edge of competence, from a pre-/mid-trained export:
#   candidate problems (RL ops, none in the training data) -> offline edge-of-competence filter
#   (adaptive sampling with the checkpoint) -> GRPO through verl main_ppo with the gated process
#   reward and the online filter -> <OUT>/rl/hf -> greedy evaluation on held-out prompts
# Default: the tiny CPU profile after `bash recipes/pretrain.sh`. Paper scale (SPEC section 10):
#   NO_SETUP=1 MODEL=outputs/paper/midtrain/hf OUT=outputs/paper OPS=11-14 MODES=forward,reverse \
#   CANDIDATES=20000 PROFILE=paper bash recipes/rl.sh trainer.nnodes=4
# Rerun after a kill: finished steps are skipped and GRPO resumes from its last checkpoint.
# Extra arguments are verl main_ppo overrides.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${OUT:-outputs/pretrain_cpu}
MODEL=${MODEL:-$OUT/pretrain/hf}
PROFILE=${PROFILE:-cpu}
OPS=${OPS:-2-4} MODES=${MODES:-forward} CONTEXTS=${CONTEXTS:-zoo}
SEED=${SEED:-20} WORKERS=${WORKERS:-1} EVAL_PROBLEMS=${EVAL_PROBLEMS:-200}
CANDIDATES=${CANDIDATES:-128} N_MAX=${N_MAX:-16} K=${K:-16} TAU_1=${TAU_1:-0.5} TAU_K=${TAU_K:-0.5}
VARIANT=${VARIANT:-gated} ALPHA=${ALPHA:-0.2}
RECIPE=rl.sh
source recipes/lib.sh
[ -f "$MODEL/config.json" ] || { echo "rl.sh: $MODEL is not a model; run recipes/pretrain.sh first (or set MODEL=...)" >&2; exit 2; }
TRAIN_ROWS=${TRAIN_ROWS:-$OUT/data/train}

step "candidate RL problems ($OPS), none in $TRAIN_ROWS"
[ -f "$OUT/data/rl_candidates/rows.parquet" ] || {
  gen --per-op "$CANDIDATES" --seed "$SEED" --out "$OUT/data/rl_candidates_all"
  interplay-verl splits exclude "$OUT/data/rl_candidates_all" --against "$TRAIN_ROWS" --out "$OUT/data/rl_candidates/rows.parquet"
}
heldout "$OUT/data/rl_candidates" "$OUT/data/rl_eval" "$TRAIN_ROWS"
step "offline edge-of-competence filter (pass@1 <= $TAU_1, pass@$K >= $TAU_K, <= $N_MAX samples)"
[ -f "$OUT/rl_filter/manifest.json" ] || interplay-verl filter --model "$MODEL" --rows "$OUT/data/rl_candidates" \
  --out "$OUT/rl_filter" --n-max "$N_MAX" --k "$K" --tau-1 "$TAU_1" --tau-k "$TAU_K" --give-up-after "$N_MAX" --quiet
step "GRPO (verl main_ppo, $VARIANT reward, online filter)"
interplay-verl rl --profile "$PROFILE" --model "$MODEL" --train "$OUT/rl_filter/rl.parquet" --out "$OUT/rl" \
  --variant "$VARIANT" --alpha "$ALPHA" "$@"
step "greedy evaluation on $EVAL_PROBLEMS held-out prompts"
[ -f "$OUT/rl_eval/report.json" ] || interplay-verl evaluate --model "$OUT/rl/hf" --rows "$OUT/data/rl_eval" --out "$OUT/rl_eval" --n-problems "$EVAL_PROBLEMS" --quiet
step "done: $OUT/rl/hf, $OUT/rl_filter/report.json, $OUT/rl_eval/report.json"
