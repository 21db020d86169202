#!/usr/bin/env python
"""Offline edge-of-competence filter: same as `interplay-verl filter` (see --help)."""

import sys

from interplay_verl.filters.offline import main

if __name__ == "__main__":
    sys.exit(main())
