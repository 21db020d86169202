"""The runtime environment ``recipes/submit_ray.sh`` submits the study with (``ray job submit``).

What travels with the job, and why:

- this checkout as the job's working directory, compiled verifier included: Ray leaves out
  what ``.gitignore`` lists, and the ``.so`` built by ``pip install -e .`` is listed, so the
  upload ignores ``.gitignore`` and excludes by its own list instead;
- ``VERL_PLATFORM=cpu`` when the resolved profile (its ``--set``s included) runs on CPU, and
  never on GPU nodes;
- with ``RAY_PIP=1``, for nodes whose image lacks the package: a wheel of this checkout (the
  compiled verifier and the ``verl.plugins`` entry point inside), written under the output
  directory every node mounts, installed by Ray's ``pip`` runtime env together with the
  package's requirements and ``ray`` pinned to the cluster's own version.
"""

from __future__ import annotations

import argparse
import ast
import glob
import json
import os
import subprocess
import sys
from typing import Optional

from interplay_verl.pipeline.config import PROFILES_DIR, ROOT, load

EXCLUDES = ["outputs/", ".venv/", ".git/", "build/", "dist/", "*.egg-info/", "__pycache__/", "*.pyc",
            ".pytest_cache/", ".hypothesis/", "checkpoints/", "interplay/", "*.pid"]
# Ray reads this in the submitting process: upload what EXCLUDES leaves, .gitignore or not
SUBMIT_ENV = {"RAY_RUNTIME_ENV_IGNORE_GITIGNORE": "1"}


def requirements(device: str) -> list[str]:
    """setup.py's requirement lists, read without running setup()."""
    names: dict = {}
    for node in ast.parse(open(os.path.join(ROOT, "setup.py")).read()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) in (
                "VERL_UNDECLARED", "INSTALL_REQUIRES", "EXTRAS"):
            exec(compile(ast.Module([node], []), "setup.py", "exec"), names)
    extra = names["EXTRAS"]["gpu"] if device == "gpu" else ["torch==2.13.0"]  # the CPU build, never CUDA wheels
    return [r for r in names["INSTALL_REQUIRES"] if not r.startswith("ray")] + extra


def build_wheel(out: str) -> str:
    """A wheel of this checkout (compiled verifier included) under ``<out>/.dist``, which every node sees."""
    target = os.path.join(out, ".dist")
    os.makedirs(target, exist_ok=True)
    for old in glob.glob(os.path.join(target, "interplay_verl-*.whl")):
        os.remove(old)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", target,
                           ROOT], capture_output=True, text=True)
    wheels = glob.glob(os.path.join(target, "interplay_verl-*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        raise RuntimeError(f"building the wheel for RAY_PIP failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return wheels[0]


def runtime_env(profile: str, out: str, sets: list[str], python: str = "python", pip: bool = False,
                ray_version: Optional[str] = None) -> dict:
    config = profile if profile.endswith(".yaml") else os.path.join(PROFILES_DIR, f"{profile}.yaml")
    cfg = load(config, sets)
    relative = os.path.relpath(os.path.abspath(config), ROOT)
    if relative.startswith(".."):
        raise ValueError(f"{config}: a profile submitted with the job must be inside the checkout ({ROOT})")
    env = {"NO_SETUP": "1", "CONFIG": relative, "PROFILE": cfg.name, "OUT": out,
           "PYTHON": python, "TOKENIZERS_PARALLELISM": "false",
           # verl's main_ppo calls ray.init with a runtime env of its own: let Ray combine it with the job's
           "RAY_OVERRIDE_JOB_RUNTIME_ENV": "1"}
    if cfg.device == "cpu":
        env["VERL_PLATFORM"] = "cpu"
    result = {"working_dir": ROOT, "excludes": list(EXCLUDES), "env_vars": {k: v for k, v in env.items() if v}}
    if pip:
        import ray

        wheel = build_wheel(out)
        result["pip"] = {"packages": [*requirements(cfg.device), f"ray[default]=={ray_version or ray.__version__}",
                                      f"interplay-verl @ file://{wheel}"], "pip_check": False}
    return result


def cluster_ray_version(address: str) -> Optional[str]:
    """The Ray version the cluster runs (what RAY_PIP pins), or None if the dashboard does not say."""
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(address)
    return getattr(client, "_server_ray_version", None)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m interplay_verl.submit",
                                description="Print the runtime environment JSON recipes/submit_ray.sh submits with")
    p.add_argument("--profile", default="tiny", help="a profile name (recipes/profiles/) or a YAML path")
    p.add_argument("--out", required=True, help="output directory on storage every node mounts")
    p.add_argument("--python", default="python")
    p.add_argument("--pip", action="store_true", help="install this package on the nodes (RAY_PIP=1)")
    p.add_argument("--address", help="the cluster's dashboard, to pin ray to its version (with --pip)")
    args, rest = p.parse_known_args(argv)
    sets = [rest[i + 1] for i, a in enumerate(rest[:-1]) if a == "--set"] + [
        a.split("=", 1)[1] for a in rest if a.startswith("--set=")]
    version = cluster_ray_version(args.address) if args.pip and args.address else None
    print(json.dumps(runtime_env(args.profile, args.out, sets, args.python, args.pip, version)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
