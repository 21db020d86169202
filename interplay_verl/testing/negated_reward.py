"""The composite reward with its score negated: the negative control of a learning test.

    reward.custom_reward_function.path=pkg://interplay_verl.testing.negated_reward

GRPO that maximises ``-score`` must push the score down, and only a trainer that really follows its
reward does both this and the opposite with the real reward. Every component the composite reports
(outcome, process, verified, the error counts) is passed through unchanged, so the run's metrics
still say what the negated score did to them.
"""

from __future__ import annotations

from interplay_verl.rewards import composite


def compute_score(data_source=None, solution_str=None, ground_truth=None, extra_info=None, **kwargs) -> dict[str, float]:
    scored = composite.compute_score(data_source, solution_str, ground_truth, extra_info, **kwargs)
    return {**scored, "score": -scored["score"]}
