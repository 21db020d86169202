"""Entry point of group ``verl.plugins``: verl imports this in every process that imports verl.

It wires our extensions into verl's registries: the CPU backend (platform, rollout, patches;
active only with ``VERL_PLATFORM=cpu``) and the online edge-of-competence trainer. verl
swallows plugin import errors at debug level, so a broken plugin would silently give a run
on the wrong device; ``LOADED`` lets ``devices.require_plugin()`` (launchers, tests, doctor)
turn that silence into a loud error.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import sys

from interplay_verl.backends import cpu as _cpu

logger = logging.getLogger(__name__)

V1_PACKAGE = "verl.trainer.ppo.v1"


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs ``hook`` right after ``name`` is first imported (a post-import hook on sys.meta_path)."""

    def __init__(self, name: str, hook):
        self.name, self.hook = name, hook

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # once; and let the regular finders locate the module
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        exec_module, hook = spec.loader.exec_module, self.hook

        def exec_then_hook(module):
            exec_module(module)
            hook()

        spec.loader.exec_module = exec_then_hook
        return spec


def register_when_imported() -> None:
    """Register the online filter's trainer now if verl's V1 package is loaded, else as soon as it is."""
    if V1_PACKAGE in sys.modules:
        register_trainer()
    elif not any(isinstance(f, _AfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(V1_PACKAGE, register_trainer))


def register_trainer() -> bool:
    """Import (and so register) the ``interplay_edge`` trainer; False when verl's V1 trainer cannot
    be imported here (verl without TransferQueue), which only matters to runs that select it."""
    try:
        import interplay_verl.filters.online  # noqa: F401
    except Exception as exc:
        logger.debug("interplay_edge trainer not registered: %s", exc)
        return False
    return True


_cpu.activate()
# verl resolves trainer.v1.trainer_mode in its TaskRunner process, after importing its V1
# trainer package there. Importing that package here would add seconds to each of the 30-45
# processes of a run, so the registration runs when verl itself imports the package.
register_when_imported()
LOADED = True
