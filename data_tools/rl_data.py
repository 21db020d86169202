#!/usr/bin/env python
"""Generated rows -> verl RL parquet: same as `interplay-verl rl-data` (see --help)."""

import sys

from interplay_verl.data.rl import main

if __name__ == "__main__":
    sys.exit(main())
