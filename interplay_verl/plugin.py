"""Entry point of group ``verl.plugins``: verl imports this in every process that imports verl.

verl swallows plugin import errors at debug level, so a broken plugin would silently give a
run on the wrong device. ``LOADED`` lets ``require_plugin()`` (launchers, tests, doctor) turn
that silence into a loud error.
"""

from interplay_verl.backends import cpu as _cpu

_cpu.activate()
LOADED = True

# verl resolves trainer.v1.trainer_mode in its TaskRunner process, after importing its V1
# trainer package there. Importing that package here would add seconds to each of the 30-45
# processes of a run, so the registration runs when verl itself imports the package.
from interplay_verl.filters import online as _online  # noqa: E402

_online.register_when_imported()
