#!/usr/bin/env bash
# Mid-training (continued pre-training) from the pre-trained export, on a CPT mixture:
#   generate (CPT mixture) -> packed corpus (pre-training's tokenizer) -> verl FSDP SFT trainer
#   starting from <PRE>/pretrain/hf with its own schedule -> <OUT>/midtrain/hf -> evaluate
# Default: the tiny CPU profile after `bash recipes/pretrain.sh`. Paper scale (SPEC section 9):
#   NO_SETUP=1 PRE=outputs/paper OUT=outputs/paper OPS=cpt0.2-uniform_0.8-11-14 MODES=forward,reverse \
#   TOKENS=2000000000 BLOCK=2048 WORKERS=64 CONFIG=recipes/configs/midtrain_paper.yaml bash recipes/midtrain.sh
# Rerun after a kill: finished steps are skipped and training resumes from its last checkpoint.
# Extra arguments are verl overrides for the trainer.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PRE=${PRE:-outputs/pretrain_cpu}
OUT=${OUT:-$PRE}
CONFIG=${CONFIG:-recipes/configs/midtrain_cpu.yaml}
OPS=${OPS:-cpt0.2-uniform_0.8-5-6} MODES=${MODES:-forward} CONTEXTS=${CONTEXTS:-zoo}
TOKENS=${TOKENS:-1200000} BLOCK=${BLOCK:-1024} SEED=${SEED:-10} WORKERS=${WORKERS:-1} EVAL_PROBLEMS=${EVAL_PROBLEMS:-500}
RECIPE=midtrain.sh
source recipes/lib.sh
for need in "$PRE/tokenizer/manifest.json" "$PRE/pretrain/hf/config.json"; do
  [ -f "$need" ] || { echo "midtrain.sh: $need is missing; run recipes/pretrain.sh first (or set PRE=...)" >&2; exit 2; }
done

step "problems ($OPS, $TOKENS tokens) and held-out prompts"
gen --tokens "$TOKENS" --seed "$SEED" --out "$OUT/data/cpt_train"
heldout "$OUT/data/cpt_train" "$OUT/data/cpt_eval"
step "packed corpus with the pre-training tokenizer"
[ -f "$OUT/cpt_corpus/manifest.json" ] || interplay-verl corpus --rows "$OUT/data/cpt_train" --tokenizer "$PRE/tokenizer" --out "$OUT/cpt_corpus" --block-size "$BLOCK" --quiet
step "verl sft_trainer from $PRE/pretrain/hf"
interplay-verl midtrain --config "$CONFIG" --corpus "$OUT/cpt_corpus" --model "$PRE/pretrain/hf" --out "$OUT/midtrain" "$@"
step "greedy evaluation on $EVAL_PROBLEMS held-out prompts"
[ -f "$OUT/midtrain_eval/report.json" ] || interplay-verl evaluate --model "$OUT/midtrain/hf" --rows "$OUT/data/cpt_eval" --out "$OUT/midtrain_eval" --n-problems "$EVAL_PROBLEMS" --quiet
step "done: $OUT/midtrain/hf, $OUT/midtrain_eval/report.json"
