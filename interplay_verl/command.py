"""How every ``interplay-verl`` command ends: its JSON result on stdout, or its error on one line.

Scripts and the pipeline read the last line of a command's output; an expected error (a bad
argument, a missing file) is one line naming it with exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
from typing import Any
from collections.abc import Callable


def report(command: str, work: Callable[[], Any], errors: tuple = (ValueError,)) -> int:
    """Run a command's work: its JSON result on stdout (exit 0), or the error on one line (exit 2)."""
    try:
        result = work()
    except errors as exc:
        print(f"interplay-verl {command}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0
