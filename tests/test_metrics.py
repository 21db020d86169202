"""Unbiased pass@k against the binomial definition and against enumeration, exactly; aggregation."""

from fractions import Fraction
from itertools import combinations
from math import comb

import numpy as np

import pytest

from interplay_verl.metrics import Tally, ladder, mean_pass_at_k, pass_at_k, pass_at_k_many, split_of


def exact(n, c, k):
    return 1 - Fraction(comb(n - c, k), comb(n, k))


@pytest.mark.parametrize("n", [1, 2, 5, 16, 128])
def test_matches_the_binomial_definition(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(float(exact(n, c, k)), abs=1e-12), (n, c, k)


def test_edges_and_known_values():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)  # pass@1 is the fraction correct
    assert pass_at_k(128, 0, 128) == 0.0 and pass_at_k(128, 1, 128) == 1.0
    assert pass_at_k(4, 2, 3) == 1.0  # n - c < k: every draw of 3 contains a correct one
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert ladder(64) == [1, 2, 4, 8, 16, 32, 64] and ladder(1000)[-1] == 128 and ladder(3) == [1, 2]
    assert mean_pass_at_k([(4, 1), (4, 0)], 2) == pytest.approx(0.25)


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match=r"pass@8 is defined for 1 <= k <= n=4"):
        pass_at_k(4, 1, 8)
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(4, 5, 1)
    with pytest.raises(TypeError, match="integers"):
        pass_at_k(4.0, 1, 1)
    with pytest.raises(ValueError, match="no problems"):
        mean_pass_at_k([], 1)


def test_equals_the_expectation_over_all_k_subsets():
    """The unbiased estimator (docs/method.md#7-passk) is the exact probability that k of the n samples, drawn without
    replacement, contain a hit: enumerate every subset for n <= 12 and every c."""
    for n in range(1, 13):
        for c in range(n + 1):
            samples = [True] * c + [False] * (n - c)
            vector = {k: pass_at_k_many([n] * 2, [c, c], k) for k in range(1, n + 1)}
            for k in range(1, n + 1):
                subsets = list(combinations(range(n), k))
                expected = Fraction(sum(any(samples[i] for i in s) for s in subsets), len(subsets))
                assert pass_at_k(n, c, k) == pytest.approx(float(expected), abs=1e-12), (n, c, k)
                assert vector[k] == pytest.approx([float(expected)] * 2, abs=1e-12), (n, c, k)
            assert pass_at_k(n, 0, 1) == 0.0 and pass_at_k(n, n, n) == 1.0


def test_vectorised_matches_scalar_for_mixed_n_and_rejects_k_over_n():
    rng = np.random.default_rng(0)
    n = rng.integers(128, 200, size=500)
    c = (rng.random(500) * (n + 1)).astype(int)
    for k in (1, 2, 16, 128):
        expected = [pass_at_k(int(a), int(b), k) for a, b in zip(n, c)]
        assert pass_at_k_many(n, c, k) == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match=r"pass@8 is defined for 1 <= k <= n; the smallest n here is 4"):
        pass_at_k_many([4, 16], [1, 1], 8)
    assert pass_at_k_many([], [], 1).shape == (0,)


def test_tally_aggregates_by_op_context_mode_and_split():
    plan = [(3, "zoo", "forward", [1, 1, 0, 0]), (12, "zoo", "reverse", [0, 0, 0, 1]), (17, "school", "forward", [0, 0, 0, 0])]
    metas = [{"op": op, "context": ctx, "mode": mode} for op, ctx, mode, _ in plan]
    problem = np.repeat(np.arange(3), 4)
    outcome = np.array([h for *_, hits in plan for h in hits], dtype=float)
    verified = np.where(problem == 0, outcome, 0.0)  # only the first problem's hits are verified
    tally = Tally.from_columns(problem, metas, outcome, verified)
    table = tally.table()
    assert table["k"] == [1, 2, 4] and table["samples_per_problem"] == 4
    assert table["overall"]["outcome"] == {1: 0.25, 2: round((5 / 6 + 0.5) / 3, 4), 4: round(2 / 3, 4)}
    assert table["overall"]["verified"][1] == round(0.5 / 3, 4)
    assert list(table["by_split"]) == ["id", "ood_edge", "ood_hard"]
    assert table["by_split"]["ood_edge"]["outcome"] == {1: 0.25, 2: 0.5, 4: 1.0}
    assert table["by_split"]["ood_edge"]["verified"] == {1: 0.0, 2: 0.0, 4: 0.0}
    assert table["by_context"]["school"] == {"problems": 1, "samples": 4, "outcome": {1: 0.0, 2: 0.0, 4: 0.0},
                                             "verified": {1: 0.0, 2: 0.0, 4: 0.0}}
    assert table["by_mode"]["reverse"]["problems"] == 1 and table["by_op"][3]["outcome"][2] == round(5 / 6, 4)
    assert [split_of(op) for op in (1, 2, 10, 11, 14, 15, 20, 21)] == [None, "id", "id", "ood_edge", "ood_edge",
                                                                      "ood_hard", "ood_hard", None]
