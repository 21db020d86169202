"""Unbiased pass@k (docs/method.md#7-passk) and its aggregation by op, context, mode and split.

With n samples of a problem of which c are correct, pass@k = 1 - C(n-c, k) / C(n, k): the
chance that k samples drawn without replacement contain a correct one. Averaging
1 - (1 - c/n)^k instead is biased low for k > 1. The product form
1 - prod_{i=n-c+1..n} (1 - k/i) avoids huge binomials; ``pass_at_k_many`` evaluates it for
a whole array of problems at once (one cumulative product per distinct n), which is what
makes aggregating a million samples cheap next to verifying them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Optional
from collections.abc import Iterable, Sequence

import numpy as np

LADDER = tuple(2 ** i for i in range(8))  # 1, 2, 4, ..., 128
SPLITS = {"id": (2, 10), "ood_edge": (11, 14), "ood_hard": (15, 20)}  # docs/method.md#7-passk
KINDS = ("outcome", "verified")


def pass_at_k(n: int, c: int, k: int) -> float:
    """1 - prod_{i=n-c+1..n} (1 - k/i); exactly 1 when n - c < k."""
    if not (isinstance(n, (int, np.integer)) and isinstance(c, (int, np.integer)) and isinstance(k, (int, np.integer))):
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


def pass_at_k_many(n: Sequence[int], c: Sequence[int], k: int) -> np.ndarray:
    """pass@k for arrays of (n, c), vectorised; raises if any problem has fewer than k samples."""
    n, c = np.asarray(n, dtype=np.int64), np.asarray(c, dtype=np.int64)
    if n.shape != c.shape:
        raise ValueError(f"n and c differ in shape: {n.shape} vs {c.shape}")
    if n.size == 0:
        return np.zeros(0)
    if (n < 1).any() or (c < 0).any() or (c > n).any():
        raise ValueError("need n >= 1 and 0 <= c <= n for every problem")
    if k < 1 or (n < k).any():
        raise ValueError(f"pass@{k} is defined for 1 <= k <= n; the smallest n here is {int(n.min())}")
    out = np.empty(n.shape, dtype=np.float64)
    for size in np.unique(n):
        rows = n == size
        # log of prod_{i=m+1..size} (1 - k/i) for every m, from a cumulative sum over i
        i = np.arange(1, size + 1, dtype=np.float64)
        terms = np.log(np.clip(1.0 - k / i, 1e-300, None))
        terms[i <= k] = -np.inf  # (1 - k/i) <= 0: a product through them means "always a hit"
        suffix = np.concatenate([np.cumsum(terms[::-1])[::-1], [0.0]])  # suffix[m] = sum_{i>m} terms
        m = size - c[rows]
        out[rows] = 1.0 - np.where(m < k, 0.0, np.exp(suffix[m]))
    return out


def at_k(curve: dict, k: int) -> float:
    """A pass@k curve's value at k, whether its keys are ints (in memory) or strings (read back from JSON)."""
    return curve[k] if k in curve else curve[str(k)]


def ladder(n: int) -> list[int]:
    """The k reported for n samples: 1, 2, 4, ... up to n (and at most 128)."""
    return [k for k in LADDER if k <= n]


def mean_pass_at_k(counts: list[tuple[int, int]], k: int) -> float:
    """Average over problems of pass@k, from (n, c) per problem."""
    if not counts:
        raise ValueError("no problems")
    n, c = zip(*counts)
    return float(pass_at_k_many(n, c, k).mean())


def relative_splits(top: int) -> dict[str, tuple[int, int]]:
    """Splits relative to a run whose pre-training ops end at ``top`` (M): ID = 2..M, OOD-edge
    M+1..M+4, OOD-hard M+5..M+10. At the paper's M = 10 they are ``SPLITS``."""
    return {"id": (2, top), "ood_edge": (top + 1, top + 4), "ood_hard": (top + 5, top + 10)}


def split_entry(by_op: dict, lo: int, hi: int) -> Optional[dict]:
    """A split's pass@k table from per-op tables: the mean over problems, as the report's own
    splits; None when no op of the range was evaluated."""
    entries = [e for op, e in by_op.items() if lo <= int(op) <= hi]
    problems = sum(e["problems"] for e in entries)
    if not problems:
        return None
    return {"problems": problems, **{kind: {k: sum(at_k(e[kind], k) * e["problems"] for e in entries) / problems
                                            for k in entries[0][kind]} for kind in KINDS}}


def split_ops(split: str) -> range:
    """The ops of an evaluation split: a name of ``SPLITS``, or an op range ``lo-hi`` (a CPU run
    evaluates its own ops, e.g. 2-8, rather than the paper's 2-20)."""
    if split in SPLITS:
        lo, hi = SPLITS[split]
    else:
        lo_text, dash, hi_text = str(split).partition("-")
        try:
            lo, hi = int(lo_text), int(hi_text if dash else lo_text)
        except ValueError:
            raise ValueError(f"split {split!r}: choose from {', '.join(SPLITS)} or an op range such as 2-8") from None
        if not 2 <= lo <= hi:
            raise ValueError(f"split {split!r}: an op range needs 2 <= lo <= hi")
    return range(lo, hi + 1)


def splits_ops(splits: Sequence[str]) -> list[int]:
    """The ops of several splits, in order; an op in two of them would be sampled twice, so it is refused."""
    seen: dict[int, str] = {}
    for split in splits:
        for op in split_ops(split):
            if op in seen:
                raise ValueError(f"op {op} is in two splits ({seen[op]}, {split}): give each op once")
            seen[op] = split
    return list(seen)


def split_of(op: int) -> Optional[str]:
    for name, (lo, hi) in SPLITS.items():
        if lo <= op <= hi:
            return name
    return None


class Tally:
    """Per-problem sample counts: n, outcome hits and verified hits per problem, with its metadata."""

    def __init__(self, metas: list[dict], n: Sequence[int], hits: dict[str, Sequence[int]]):
        self.meta, self.n, self.hits = list(metas), list(n), {kind: list(hits[kind]) for kind in KINDS}

    @classmethod
    def from_columns(cls, problem: np.ndarray, metas: list[dict], outcome: np.ndarray, verified: np.ndarray) -> Tally:
        """All samples at once: ``problem[i]`` is sample i's index into ``metas`` (one per problem)."""
        size = len(metas)
        count = lambda weights=None: np.bincount(problem, weights=weights, minlength=size).astype(int).tolist()
        return cls(metas, count(), {"outcome": count(outcome == 1.0), "verified": count(verified == 1.0)})

    def table(self, group_by: Iterable[str] = ("op", "context", "mode", "split"), ks: Optional[list[int]] = None) -> dict:
        """pass@k on the ladder, outcome and verified: overall and for every value of each key."""
        n = np.asarray(self.n)
        if n.size == 0:
            raise ValueError("no samples")
        ks = ks or ladder(int(n.min()))
        curves = {kind: {k: pass_at_k_many(n, np.asarray(self.hits[kind]), k) for k in ks} for kind in KINDS}

        def summary(rows: np.ndarray) -> dict:
            return {"problems": int(rows.sum()), "samples": int(n[rows].sum()),
                    **{kind: {k: round(float(curves[kind][k][rows].mean()), 4) for k in ks} for kind in KINDS}}

        out = {"samples_per_problem": int(n.min()), "k": ks, "overall": summary(np.ones(n.size, dtype=bool))}
        for key in group_by:
            groups: dict = defaultdict(list)
            for row, meta in enumerate(self.meta):
                value = split_of(int(meta["op"])) if key == "split" else meta.get(key)
                if value is not None:
                    groups[value].append(row)
            order = list(SPLITS) if key == "split" else sorted(groups)
            out[f"by_{key}"] = {}
            for value in order:
                if value in groups:
                    mask = np.zeros(n.size, dtype=bool)
                    mask[groups[value]] = True
                    out[f"by_{key}"][value] = summary(mask)
        return out
