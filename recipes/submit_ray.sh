#!/usr/bin/env bash
# Submit the recipe, or some of its stages, to a Ray cluster with `ray job submit`.
#
#   RAY_ADDRESS=http://HEAD:8265 OUT=/shared/interplay PROFILE=paper bash recipes/submit_ray.sh
#   RAY_ADDRESS=... OUT=/shared/interplay PROFILE=paper bash recipes/submit_ray.sh --only rl,evaluate,report
#   RAY_ADDRESS=... OUT=/shared/x PROFILE=paper bash recipes/submit_ray.sh --set cluster.nodes=4
#
# The job's entrypoint (on the head node) only coordinates: it checks that the cluster has the
# devices the profile's `cluster` section asks for and that every node sees OUT, then runs the
# stages on a worker node with devices (interplay_verl/cluster.py); trainers and generation
# replicas spread over all of them. OUT must be on storage every node mounts at the same path.
# The runtime environment (interplay_verl/submit.py) carries this checkout, compiled verifier
# included, VERL_PLATFORM=cpu when the resolved profile runs on CPU, and with RAY_PIP=1 a wheel
# of this package plus its requirements, for nodes whose image does not have it.
# A head without GPUs: `ray start --head --num-cpus=0 --num-gpus=0`; workers:
# `ray start --address=HEAD:6379 --num-gpus=8` (CPU clusters: logical GPUs, one per training
# rank or generation replica). Ray >= 2.59 authenticates with a token: export the cluster's
# RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH). Extra arguments go to `interplay-verl pipeline`.
# NO_WAIT=1 returns once submitted. ENTRYPOINT runs another command in the same environment,
# e.g. ENTRYPOINT="python -m interplay_verl.cli doctor --on-workers" checks every device node
# before a long run. docs/cluster.md walks through a whole run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ADDRESS=${RAY_ADDRESS:-http://127.0.0.1:8265}
PROFILE=${PROFILE:-tiny}
OUT=${OUT:-$PWD/outputs/ray_$PROFILE}
PYTHON=${PYTHON:-python}
RAY=${RAY:-ray}
RUNTIME_ENV=$("$PYTHON" -m interplay_verl.submit --profile "${CONFIG:-$PROFILE}" --out "$OUT" --python "$PYTHON" \
  ${RAY_PIP:+--pip --address "$ADDRESS"} "$@")
echo "[submit_ray] $ADDRESS: $RUNTIME_ENV"
if [ -n "${ENTRYPOINT:-}" ]; then
  read -r -a command <<< "$ENTRYPOINT"
else
  command=(bash recipes/cpt_then_rl.sh "$@")
fi
RAY_RUNTIME_ENV_IGNORE_GITIGNORE=1 exec "$RAY" job submit --address "$ADDRESS" --runtime-env-json "$RUNTIME_ENV" \
  ${NO_WAIT:+--no-wait} -- "${command[@]}"
