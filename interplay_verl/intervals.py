"""How far an evaluation number can be trusted: a bootstrap over problems.

A CPU run scores tens of problems per op with a few samples each, so a change of 0.05 between
two checkpoints may be the luck of which problems were drawn and which samples came out. The
interval of a checkpoint's pass@k resamples its problems (each problem's unbiased pass@k from its
own samples, so the spread of the samples is inside it); the interval of a *change* between two
checkpoints resamples problems keeping each problem's pair of scores together, since every
checkpoint of a run is scored on the same held-out problems. A change whose interval excludes 0
is larger than what drawing other problems and other samples would give.

Percentile intervals from 2,000 resamples with a fixed seed: the same samples give the same
interval on every machine.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Optional

import numpy as np

from interplay_verl.metrics import pass_at_k_many

RESAMPLES = 2000
LEVEL = 0.95


def per_problem(samples, kind: str, k: int) -> dict[str, float]:
    """{problem id: unbiased pass@k} from an evaluation's samples (columns ``id`` and ``kind``)."""
    counts = (samples[kind] > 0).groupby(samples["id"], sort=True).agg(["size", "sum"])
    return dict(zip(counts.index, pass_at_k_many(counts["size"].to_numpy(), counts["sum"].to_numpy(), k)))


def interval(values: Sequence[float], resamples: int = RESAMPLES, seed: int = 0, level: float = LEVEL) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (one value per problem)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no problems to resample")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    tail = (1 - level) / 2
    lo, hi = np.quantile(means, [tail, 1 - tail])
    return float(lo), float(hi)


def paired_change(before: dict, after: dict, **kwargs) -> dict:
    """Mean of after - before over the problems both scored, with its interval and whether it excludes 0
    (and each side's mean over those problems)."""
    ids = sorted(set(before) & set(after))
    if not ids:
        raise ValueError("the two evaluations share no problem: a change needs the same held-out set")
    diff = np.array([after[i] - before[i] for i in ids])
    lo, hi = interval(diff, **kwargs)
    return {"before": round(float(np.mean([before[i] for i in ids])), 4),
            "after": round(float(np.mean([after[i] for i in ids])), 4),
            "change": round(float(diff.mean()), 4), "low": round(lo, 4), "high": round(hi, 4),
            "problems": len(ids), "beyond_noise": bool(lo > 0 or hi < 0)}


def load_samples(directory: str, extra: Sequence[str] = ()):
    """An evaluation directory's ``samples.parquet``, or None (older outputs have only the report);
    ``extra`` columns (context, error counts) are read where the file has them."""
    import pandas as pd
    import pyarrow.parquet as pq

    path = os.path.join(directory, "samples.parquet")
    if not os.path.exists(path):
        return None
    have = set(pq.read_schema(path).names) if extra else set()
    return pd.read_parquet(path, columns=["id", "op", "outcome", "verified", *(c for c in extra if c in have)])


def in_ops(samples, lo: Optional[int] = None, hi: Optional[int] = None):
    if lo is None:
        return samples
    return samples[(samples["op"] >= lo) & (samples["op"] <= hi)]


def select(samples, ops: Optional[Sequence[int]] = None, context: Optional[str] = None):
    """The samples of ops ``lo..hi`` and, when given, of one context: the problems a change is read on."""
    samples = in_ops(samples, *(ops or ()))
    return samples if context is None else samples[samples["context"] == context]


def describe(change: dict, digits: int = 4) -> str:
    """``+0.1234 [+0.0500, +0.2000]``, the form the reports print (a wide table prints fewer digits)."""
    return f"{change['change']:+.{digits}f} [{change['low']:+.{digits}f}, {change['high']:+.{digits}f}]"
