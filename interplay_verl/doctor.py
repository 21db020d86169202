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
    }
    if gpus == 0 and device != "cpu":
        info["to do"] = (f"no GPU here, yet verl would run on {device!r}: set VERL_PLATFORM=cpu "
                         "(the recipes and --device cpu do), e.g. `VERL_PLATFORM=cpu interplay-verl doctor`")
    return info


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
    args = parser.parse_args(argv)
    info = report()
    if args.json:
        print(json.dumps(info))
    else:
        width = max(map(len, info))
        for key, value in info.items():
            print(f"{key:<{width}}  {value}")
    return 0 if info["plugin loaded"] else 1
