"""A plain outcome reward in verl's contract, for smoke runs on toy data.

Full credit for the right number in ``<answer> ... </answer>``, a little for a well-formed
but wrong answer (so a barely trained model still sees a reward signal), none otherwise.
"""

from __future__ import annotations

import re

_ANSWER = re.compile(r"<answer>\s*(-?\d+(?:\.\d+)?)\s*</answer>")


def compute_score(data_source, solution_str, ground_truth, extra_info=None, format_credit: float = 0.1, **kwargs):
    try:
        match = _ANSWER.search(solution_str if isinstance(solution_str, str) else "")
        if match is None:
            return 0.0
        return 1.0 if float(match.group(1)) == float(str(ground_truth).strip()) else float(format_credit)
    except (TypeError, ValueError):
        return 0.0
