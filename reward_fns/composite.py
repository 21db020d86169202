"""verl ``reward.custom_reward_function.path`` target: the process-verification reward.

    reward.custom_reward_function.path=<checkout>/reward_fns/composite.py
    reward.custom_reward_function.name=compute_score

Works without installing the package: the checkout this file sits in (e.g. the working_dir
a ``ray job submit`` ships to every node) is put on ``sys.path``. Installed nodes can use
``pkg://interplay_verl.rewards.composite`` instead.
"""

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from interplay_verl.rewards.composite import compute_score  # noqa: E402,F401
