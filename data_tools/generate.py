#!/usr/bin/env python
"""Generate problems: same as `interplay-verl generate` (see --help)."""

import sys

from interplay_verl.problems.generate import main

if __name__ == "__main__":
    sys.exit(main())
