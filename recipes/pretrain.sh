#!/usr/bin/env bash
# Pre-training, from nothing to a Hugging Face checkpoint and its greedy evaluation:
#   generate (op mixture, token budget) -> tokenizer -> packed corpus -> random Qwen2
#   -> verl FSDP SFT trainer -> <OUT>/pretrain/hf -> evaluate on held-out prompts
# Default: the tiny CPU profile on op 2-4 (well under 10 minutes on 2 cores).
# Paper scale (SPEC section 10), on a GPU node with `pip install -e .[gpu]`:
#   NO_SETUP=1 PROFILE=paper OPS=id2-10_0.2easy_0.3medium_0.5hard MODES=forward,reverse \
#   TOKENS=10000000000 BLOCK=2048 WORKERS=64 CONFIG=recipes/configs/pretrain_paper.yaml \
#   OUT=outputs/paper bash recipes/pretrain.sh
# Rerun after a kill: finished steps are skipped and training resumes from its last checkpoint.
# Extra arguments are verl overrides for the trainer, e.g. trainer.total_training_steps=20.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${OUT:-outputs/pretrain_cpu}
CONFIG=${CONFIG:-recipes/configs/pretrain_cpu.yaml}
PROFILE=${PROFILE:-cpu} OPS=${OPS:-2-4} MODES=${MODES:-forward} CONTEXTS=${CONTEXTS:-zoo}
TOKENS=${TOKENS:-5500000} BLOCK=${BLOCK:-1024} VOCAB=${VOCAB:-2200} SEED=${SEED:-0}
WORKERS=${WORKERS:-1} EVAL_PROBLEMS=${EVAL_PROBLEMS:-500}
RECIPE=pretrain.sh
source recipes/lib.sh

step "problems ($OPS, $TOKENS tokens) and held-out prompts"
gen --tokens "$TOKENS" --seed "$SEED" --out "$OUT/data/train"
heldout "$OUT/data/train" "$OUT/data/eval"
step "tokenizer"
[ -f "$OUT/tokenizer/manifest.json" ] || interplay-verl tokenizer --rows "$OUT/data/train" --out "$OUT/tokenizer" --vocab-size "$VOCAB"
step "packed corpus ($BLOCK-token blocks)"
[ -f "$OUT/corpus/manifest.json" ] || interplay-verl corpus --rows "$OUT/data/train" --tokenizer "$OUT/tokenizer" --out "$OUT/corpus" --block-size "$BLOCK" --quiet
step "random $PROFILE Qwen2"
[ -f "$OUT/init/manifest.json" ] || interplay-verl init-model --tokenizer "$OUT/tokenizer" --profile "$PROFILE" --out "$OUT/init" --seed "$SEED"
step "verl sft_trainer"
interplay-verl pretrain --config "$CONFIG" --corpus "$OUT/corpus" --model "$OUT/init" --out "$OUT/pretrain" "$@"
step "greedy evaluation on $EVAL_PROBLEMS held-out prompts"
[ -f "$OUT/eval/report.json" ] || interplay-verl evaluate --model "$OUT/pretrain/hf" --rows "$OUT/data/eval" --out "$OUT/eval" --n-problems "$EVAL_PROBLEMS" --quiet
step "done: $OUT/pretrain/hf, $OUT/eval/report.json"
