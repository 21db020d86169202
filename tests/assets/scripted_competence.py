"""A reward function that stands in for a model of known competence (for the online filter test).

The rollouts are real (verl's trainer, our CPU rollout, the tiny model); only *whether a
rollout counts as solved* is scripted, by the problem's op: op 2 always, op 20 never, any
other op every second sample of a prompt (so each GRPO group of an even size is half solved).
Every call is appended to $SCRIPTED_REWARD_LOG as "op index", so the test can see which
prompts were rolled out at each step.
"""

import os
from collections import Counter

_calls: Counter = Counter()


def compute_score(data_source=None, solution_str=None, ground_truth=None, extra_info=None, **kwargs):
    op, index = int(extra_info["op"]), int(extra_info["index"])
    if op == 2:
        solved = 1.0
    elif op == 20:
        solved = 0.0
    else:
        solved = float(_calls[index] % 2 == 0)
    _calls[index] += 1
    with open(os.environ["SCRIPTED_REWARD_LOG"], "a") as f:
        f.write(f"{op} {index}\n")
    return {"score": solved, "outcome": solved, "verified": solved}
