#!/usr/bin/env bash
# Submit the recipe, or some of its stages, to a Ray cluster with `ray job submit`.
#
#   RAY_ADDRESS=http://HEAD:8265 OUT=/shared/interplay PROFILE=paper bash recipes/submit_ray.sh
#   RAY_ADDRESS=... OUT=/shared/interplay PROFILE=paper bash recipes/submit_ray.sh --only rl,evaluate,report
#
# The job's runtime environment carries this checkout as its working directory (outputs/,
# .venv/ and .git/ left out), the environment our verl plugin needs (VERL_PLATFORM=cpu for the
# CPU profiles, never on GPU nodes), and with RAY_PIP=1 the package's pip requirements (for
# clusters whose image does not have interplay-verl installed). OUT must be a path every node
# can write (a shared filesystem): the working directory is a per-job copy.
# Start a CPU cluster's head with logical GPUs, one per training worker, e.g.
#   ray start --head --num-cpus 32 --num-gpus 1
# Ray >= 2.59 authenticates clusters with a token: export the cluster's RAY_AUTH_TOKEN (or
# RAY_AUTH_TOKEN_PATH) before submitting. Extra arguments go to `interplay-verl pipeline`.
# NO_WAIT=1 returns once submitted.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ADDRESS=${RAY_ADDRESS:-http://127.0.0.1:8265}
PROFILE=${PROFILE:-tiny}
OUT=${OUT:-$PWD/outputs/ray_$PROFILE}
PYTHON=${PYTHON:-python}
RAY=${RAY:-ray}
RUNTIME_ENV=$("$PYTHON" - "$PROFILE" "$OUT" "$PYTHON" <<'PY'
import json, os, sys
profile, out, python = sys.argv[1:4]
env = {"NO_SETUP": "1", "PROFILE": profile, "OUT": out, "PYTHON": python, "TOKENIZERS_PARALLELISM": "false",
       # verl's main_ppo calls ray.init with a runtime env of its own: let Ray combine it with the job's
       "RAY_OVERRIDE_JOB_RUNTIME_ENV": "1"}
if profile != "paper":
    env["VERL_PLATFORM"] = "cpu"
runtime_env = {"working_dir": ".", "excludes": ["outputs/", ".venv/", ".git/", "*.egg-info/", "__pycache__/"],
               "env_vars": env}
if os.environ.get("RAY_PIP") == "1":  # setup.py's requirement lists, read without running setup()
    import ast
    tree = ast.parse(open("setup.py").read())
    names = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id in ("VERL_UNDECLARED", "INSTALL_REQUIRES", "EXTRAS"):
            exec(compile(ast.Module([node], []), "setup.py", "exec"), names)
    packages = names["INSTALL_REQUIRES"] + (names["EXTRAS"]["gpu"] if profile == "paper" else ["torch==2.13.0"])
    runtime_env["pip"] = {"packages": packages, "pip_check": False}
print(json.dumps(runtime_env))
PY
)
echo "[submit_ray] $ADDRESS: $RUNTIME_ENV"
exec "$RAY" job submit --address "$ADDRESS" --runtime-env-json "$RUNTIME_ENV" ${NO_WAIT:+--no-wait} \
  -- bash recipes/cpt_then_rl.sh "$@"
