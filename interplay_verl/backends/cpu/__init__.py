"""verl on a machine without a GPU, extended from outside verl.

``activate()`` is what our ``verl.plugins`` entry point runs in every process that imports
verl (the driver, each Ray worker, each torchrun rank). It always registers the ``cpu``
platform (cheap, and inert until ``VERL_PLATFORM=cpu``); the fixes in ``patches.py`` touch
torch and verl's registries, so they are applied only when the CPU platform is selected, and
the CPU rollout (``rollout.py``) is registered with them.
"""

from __future__ import annotations

import logging

from interplay_verl.backends.cpu import patches
from interplay_verl.backends.cpu.platform import PLATFORM_NAME, ROLLOUT_NAME, PlatformCPU, is_selected

logger = logging.getLogger(__name__)

_ACTIVE = False


def activate() -> bool:
    """Apply the CPU fixes if ``VERL_PLATFORM=cpu``; returns whether the backend is active."""
    global _ACTIVE
    if _ACTIVE or not is_selected():
        return _ACTIVE
    patches.patch_init_process_group()
    patches.patch_pin_memory()
    patches.patch_logprobs()
    patches.patch_sdpa_gqa()
    patches.register_engines()
    from interplay_verl.backends.cpu.rollout import register_rollout

    register_rollout()
    _ACTIVE = True
    return True


def is_active() -> bool:
    return _ACTIVE


__all__ = ["PlatformCPU", "PLATFORM_NAME", "ROLLOUT_NAME", "activate", "is_active", "is_selected"]
