"""Entry point of group ``verl.plugins``: verl imports this in every process that imports verl.

It wires our extensions into verl's registries: the CPU backend (platform, rollout, patches;
active only with ``VERL_PLATFORM=cpu``), the online edge-of-competence trainer and the
tag-keeping reward managers (``interplay``, ``interplay_remote``). verl
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


REWARD_MANAGERS_PACKAGE = "verl.experimental.reward_loop.reward_manager"


def after_import(name: str, hook) -> None:
    """Run ``hook`` now if ``name`` is loaded, else right after it is first imported."""
    if name in sys.modules:
        hook()
    elif not any(isinstance(f, _AfterImport) and f.name == name for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(name, hook))


def register_when_imported() -> None:
    """Register the online filter's trainer and our reward managers when verl loads their registries."""
    after_import(V1_PACKAGE, register_trainer)
    after_import(REWARD_MANAGERS_PACKAGE, register_reward_managers)


def register_reward_managers() -> None:
    import interplay_verl.rewards.manager  # noqa: F401  (registers "interplay" and "interplay_remote")


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
# verl resolves trainer.v1.trainer_mode and reward.reward_manager.name in the processes that
# import those registries. Importing them here would add seconds to each of the 30-45
# processes of a run, so each registration runs when verl itself imports the package.
register_when_imported()
LOADED = True
