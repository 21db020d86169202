# Shared by the stage recipes (sourced, after their settings): the environment, timestamped
# step lines, generation with the recipe's op/mode/context settings, and held-out prompts
# that share no problem id with a training set.
[ -n "${NO_SETUP:-}" ] || bash recipes/setup_cpu.sh
export PATH="$PWD/.venv/bin:$PATH" TOKENIZERS_PARALLELISM=false
start=$(date +%s)
step() { echo "[$RECIPE] $(( $(date +%s) - start ))s: $*"; }
gen() { interplay-verl generate --ops "$OPS" --modes "$MODES" --contexts "$CONTEXTS" --workers "$WORKERS" --resume --quiet "$@"; }
heldout() {  # heldout TRAIN_ROWS EVAL_DIR [MORE_ROWS...]: EVAL_PROBLEMS per op, none in any of the rows
  [ -f "$2/eval.parquet" ] || {
    gen --per-op "$EVAL_PROBLEMS" --seed $((SEED + 1000)) --out "$2_all"
    interplay-verl splits exclude "$2_all" --against "$1" "${@:3}" --out "$2/eval.parquet"
  }
}
