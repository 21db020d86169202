"""``interplay-verl doctor``: what verl will run on here, and whether our plugin is in it.

verl loads ``verl.plugins`` entry points inside a bare ``except``, so a broken plugin shows
up only as a run on the wrong device. This module checks the result, not the intent.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import os
import sys

ENTRY_POINT = "interplay_verl"


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "not installed"


def plugin_status() -> dict:
    """Import verl (which loads plugins) and report whether ours actually loaded."""
    import verl  # noqa: F401  (runs verl's plugin discovery in this process)

    eps = [ep for ep in md.entry_points(group="verl.plugins") if ep.name == ENTRY_POINT]
    loaded = bool(getattr(sys.modules.get("interplay_verl.plugin"), "LOADED", False))
    reason = "loaded"
    if not eps:
        reason = "entry point `interplay_verl` of group `verl.plugins` is not installed"
    elif not loaded:
        policy = os.environ.get("VERL_USE_EXTERNAL_PLUGINS", "auto")
        if policy.strip().lower() == "none" or (
            policy.strip().lower() != "auto" and ENTRY_POINT not in [p.strip() for p in policy.split(",")]
        ):
            reason = f"VERL_USE_EXTERNAL_PLUGINS={policy!r} excludes it"
        else:
            try:
                importlib.import_module(eps[0].value)
                reason = "verl did not load it"
            except Exception as exc:  # the error verl swallowed
                reason = f"import failed: {type(exc).__name__}: {exc}"
    from interplay_verl.backends import cpu

    return {
        "entry_point_installed": bool(eps),
        "plugin_loaded": loaded,
        # activate() is a no-op unless VERL_PLATFORM=cpu; it covers a process that imported
        # verl before setting the variable (the plugin ran, but with the backend off).
        "cpu_backend_active": loaded and (cpu.is_active() or cpu.activate()),
        "reason": reason,
    }


def require_plugin() -> None:
    """Raise if verl did not load our plugin (used by launchers and the test suite)."""
    status = plugin_status()
    if not status["plugin_loaded"]:
        raise RuntimeError(f"interplay_verl's verl plugin is not active: {status['reason']}")


def report() -> dict:
    status = plugin_status()
    from verl.utils.device import get_device_name

    return {
        "python": sys.version.split()[0],
        "verl": _version("verl"),
        "torch": _version("torch"),
        "transformers": _version("transformers"),
        "ray": _version("ray"),
        "VERL_PLATFORM": os.environ.get("VERL_PLATFORM", "(unset: auto-detect)"),
        "verl device": get_device_name(),
        "plugin loaded": status["plugin_loaded"],
        "plugin detail": status["reason"],
        "cpu backend active": status["cpu_backend_active"],
        "vllm importable": importlib.util.find_spec("vllm") is not None,
        "flash_attn importable": importlib.util.find_spec("flash_attn") is not None,
        "compiled verifier": _verifier_status(),
    }


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
