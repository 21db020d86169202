"""``interplay-verl doctor``: what verl will run on here, and whether our plugin is in it.

verl loads ``verl.plugins`` entry points inside a bare ``except``, so a broken plugin shows
up only as a run on the wrong device. This module checks the result, not the intent.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import os
import sys

from interplay_verl.devices import gpu_count, plugin_status

def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "not installed"


def report() -> dict:
    status = plugin_status()
    from verl.utils.device import get_device_name

    device, gpus = get_device_name(), gpu_count()
    info = {
        "python": sys.version.split()[0],
        "verl": _version("verl"),
        "torch": _version("torch"),
        "transformers": _version("transformers"),
        "ray": _version("ray"),
        "VERL_PLATFORM": os.environ.get("VERL_PLATFORM", "(unset: auto-detect)"),
        "GPUs visible to torch": gpus,
        "verl device": device,
        "plugin loaded": status["plugin_loaded"],
        "plugin detail": status["reason"],
        "cpu backend active": status["cpu_backend_active"],
        "vllm importable": importlib.util.find_spec("vllm") is not None,
        "flash_attn importable": importlib.util.find_spec("flash_attn") is not None,
        "compiled verifier": _verifier_status(),
        "interplay_verl from": os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        "interplay-verl installed": _install_source(),
    }
    if gpus == 0 and device != "cpu":
        info["to do"] = (f"no GPU here, yet verl would run on {device!r}: set VERL_PLATFORM=cpu "
                         "(the recipes and --device cpu do), e.g. `VERL_PLATFORM=cpu interplay-verl doctor`")
    return info


def _install_source() -> str:
    """How the package is installed here: an editable checkout, a wheel (RAY_PIP's), or not at all."""
    import json

    # an egg-info in the working directory also counts as a distribution: take the installed one
    dists = sorted(md.distributions(name="interplay-verl"), key=lambda d: d.read_text("direct_url.json") is None)
    if not dists:
        return "not installed (imported from the working directory only)"
    dist = dists[0]
    origin = json.loads(dist.read_text("direct_url.json") or "{}")
    if origin.get("dir_info", {}).get("editable"):
        return f"editable {origin.get('url', '')}"
    return f"wheel {origin['url']}" if origin.get("url", "").endswith(".whl") else f"{dist.version} from an index"


def _verifier_status() -> str:
    """The reward's parser: compiled (verify/_native.c) or pure Python (slower, same scores)."""
    from interplay_verl.verify import parse

    if parse.native is not None:
        return "yes (verify/_native.c)"
    if os.environ.get("INTERPLAY_VERL_PURE_PYTHON", "") not in ("", "0"):
        return "no: INTERPLAY_VERL_PURE_PYTHON is set"
    return "no: not built (reinstall with a C compiler: pip install -e .); pure Python, same scores, slower"


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="interplay-verl doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--on-workers", action="store_true",
                        help="run the check as a Ray task on every node with devices of the cluster in RAY_ADDRESS "
                             "(what a job's stages will find there)")
    args = parser.parse_args(argv)
    if args.on_workers:
        from interplay_verl import cluster

        cluster.connect()
        reports = {node["node_id"]: cluster.on_a_worker(report, node=node) for node in cluster.device_nodes()}
        if not reports:
            print("interplay-verl doctor: no node of the cluster has devices", file=sys.stderr)
            return 1
    else:
        reports = {"here": report()}
    for node, info in reports.items():
        if args.json:
            print(json.dumps({"node": node, **info}))
        else:
            width = max(map(len, info))
            print(f"== {node}")
            for key, value in info.items():
                print(f"{key:<{width}}  {value}")
    return 0 if all(info["plugin loaded"] for info in reports.values()) else 1
