#!/usr/bin/env bash
# RL alone, after recipes/pretrain.sh (and midtrain.sh): the offline edge-of-competence filter on
# the RL candidates, then GRPO through verl with the process reward and the online filter,
# then base / mid / RL evaluated and compared. Writes $OUT/filter, $OUT/rl/hf, $OUT/report.
#
#   bash recipes/rl.sh [--set rl.variant=outcome]
exec bash "$(dirname "${BASH_SOURCE[0]}")/cpt_then_rl.sh" --only eval_base,eval_mid,candidates,filter,rl,evaluate,report "$@"
