"""Every artifact directory carries ``manifest.json``: config, seed, versions, git hash.

Written atomically (temp file + rename) so a killed job never leaves a half manifest.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any, Optional

from interplay_verl.atomic import atomic_write_text

PACKAGES = ("interplay-verl", "verl", "torch", "transformers", "ray", "tokenizers")


def git_hash(path: Optional[str] = None) -> Optional[str]:
    here = path or os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:
            found[name] = "not installed"
    return found


def write_manifest(directory: str, config: dict[str, Any], seed: Optional[int], **extra: Any) -> str:
    manifest = {
        "config": config,
        "seed": seed,
        "versions": versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git": git_hash(),
        "created_unix": int(time.time()),
        **extra,
    }
    path = os.path.join(directory, "manifest.json")
    atomic_write_text(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return path


def invalidate(directory: str) -> None:
    """Remove ``directory``'s manifest before rewriting its contents.

    The manifest is written last, so "has a manifest" means "complete": recipes skip steps
    whose output has one, and a rewrite killed halfway must not leave the old one behind.
    """
    path = os.path.join(directory, "manifest.json")
    if os.path.exists(path):
        os.unlink(path)


def record_stage(directory: str, record: dict[str, Any]) -> str:
    """Mark ``directory`` complete as a pipeline stage: its manifest gains ``pipeline: record``.

    A stage whose own code wrote a manifest keeps it (config, result, ...) and gains the record;
    a stage that writes only sub-directories (data, corpus, evaluate) gets a manifest holding it.
    """
    path = os.path.join(directory, "manifest.json")
    if os.path.exists(path):
        with open(path) as f:
            manifest = json.load(f)
        manifest["pipeline"] = record
        atomic_write_text(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        return path
    return write_manifest(directory, config={}, seed=None, kind=f"pipeline_stage:{record['stage']}", pipeline=record)
