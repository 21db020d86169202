"""Unbiased pass@k (SPEC section 7), the quantity evaluation reports and the edge filters use.

With n samples of a problem of which c are correct, pass@k = 1 - C(n-c, k) / C(n, k): the
chance that k samples drawn without replacement contain a correct one. Averaging
1 - (1 - c/n)^k instead is biased low for k > 1. The product form avoids huge binomials.
"""

from __future__ import annotations

LADDER = tuple(2 ** i for i in range(8))  # 1, 2, 4, ..., 128


def pass_at_k(n: int, c: int, k: int) -> float:
    """1 - prod_{i=n-c+1..n} (1 - k/i); exactly 1 when n - c < k."""
    if not (isinstance(n, int) and isinstance(c, int) and isinstance(k, int)):
        raise TypeError(f"pass_at_k needs integers, got n={n!r}, c={c!r}, k={k!r}")
    if n < 1 or not 0 <= c <= n:
        raise ValueError(f"need n >= 1 and 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass@{k} is defined for 1 <= k <= n={n} samples")
    if n - c < k:
        return 1.0
    miss = 1.0
    for i in range(n - c + 1, n + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def ladder(n: int) -> list[int]:
    """The k reported for n samples: 1, 2, 4, ... up to n (and at most 128)."""
    return [k for k in LADDER if k <= n]


def mean_pass_at_k(counts: list[tuple[int, int]], k: int) -> float:
    """Average over problems of pass@k, from (n, c) per problem."""
    if not counts:
        raise ValueError("no problems")
    return sum(pass_at_k(n, c, k) for n, c in counts) / len(counts)
