"""Unbiased pass@k against the binomial definition, exactly."""

from fractions import Fraction
from math import comb

import pytest

from interplay_verl.passk import ladder, mean_pass_at_k, pass_at_k


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
