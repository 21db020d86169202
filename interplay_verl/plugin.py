"""Entry point of group ``verl.plugins``: verl imports this in every process that imports verl.

verl swallows plugin import errors at debug level, so a broken plugin would silently give a
run on the wrong device. ``LOADED`` lets ``require_plugin()`` (launchers, tests, doctor) turn
that silence into a loud error.
"""

from interplay_verl.backends import cpu as _cpu

CPU_BACKEND_ACTIVE = _cpu.activate()
LOADED = True
