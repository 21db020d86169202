"""A dense rule reward for trainer tests: the share of digits in the response.

A random tiny model never writes a correct answer, so an outcome reward would give every
group equal rewards and GRPO zero advantage; this one varies within every group.
"""


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    text = solution_str if isinstance(solution_str, str) else ""
    return sum(c.isdigit() for c in text) / max(1, len(text))
