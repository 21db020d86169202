#!/usr/bin/env bash
# Pre-training alone: the pipeline's first stages, same profile, layout and defaults as the main job
#   data -> tokenizer -> corpus -> init -> pretrain  (writes $OUT/pretrain/hf)
#
#   bash recipes/pretrain.sh                                  # the tiny profile
#   bash recipes/pretrain.sh --set pretrain.tokens=8000000    # any setting (or IV__PRETRAIN__TOKENS=...)
#   PROFILE=paper NO_SETUP=1 bash recipes/pretrain.sh         # the paper's scale, on a GPU node
#
# Then `bash recipes/midtrain.sh`, `bash recipes/rl.sh`; or all of it: `bash recipes/cpt_then_rl.sh`.
exec bash "$(dirname "${BASH_SOURCE[0]}")/cpt_then_rl.sh" --only eval_sets,data,tokenizer,corpus,init,pretrain "$@"
