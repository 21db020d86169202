#!/usr/bin/env bash
# Mid-training alone, after recipes/pretrain.sh: continued pre-training of $OUT/pretrain/hf on the
# profile's mid-training mixture (its corpus was built by the corpus stage). Writes $OUT/midtrain/hf.
#
#   bash recipes/midtrain.sh [--set midtrain.overrides=[trainer.total_training_steps=600]]
exec bash "$(dirname "${BASH_SOURCE[0]}")/cpt_then_rl.sh" --only mid_data,midtrain "$@"
