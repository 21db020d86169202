"""Adaptive vs fixed sampling for the offline edge-of-competence filter (a simulation, seconds).

Each simulated problem has a known success rate, drawn per op from a curve shaped like a
pre-trained model's (solves shallow problems, fails deep ones) with a wide spread inside each
op. Both selections read the same stream of samples per problem: the fixed one draws all
n = 128 and classifies (docs/method.md#8-the-edge-of-competence); the adaptive one draws rounds and stops as soon as
``StoppingRule`` settles the band decision. Reported: agreement of the two decisions and the
adaptive share of the fixed run's samples (the target: >= 95% agreement at <= 40% of the samples).

    python benchmarks/filter.py [--problems 20000] [--seed 0] [--round 8]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from interplay_verl.filters.band import Band, StoppingRule, classify  # noqa: E402
from interplay_verl.filters.offline import AdaptiveSampling  # noqa: E402


def population(n_problems: int, rng: np.random.Generator, midpoint: float = 11.0, width: float = 1.5,
               concentration: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """(op, success rate) per problem: mean rate 1 / (1 + exp((op - midpoint) / width)), Beta spread."""
    ops = rng.integers(2, 21, size=n_problems)
    mean = 1.0 / (1.0 + np.exp((ops - midpoint) / width))
    mean = np.clip(mean, 1e-4, 1 - 1e-4)
    rates = rng.beta(mean * concentration, (1 - mean) * concentration)
    return ops, rates


def simulate(n_problems: int, seed: int, band: Band, rule: StoppingRule, round_size: int, **pop) -> dict:
    rng = np.random.default_rng(seed)
    ops, rates = population(n_problems, rng, **pop)
    outcomes = rng.random((n_problems, rule.n_max)) < rates[:, None]  # the shared sample streams
    fixed = [classify(rule.n_max, int(row.sum()), band) for row in outcomes]
    sampling = AdaptiveSampling(n_problems, band, rule, round_size)
    while True:
        todo = sampling.next_round()
        if not todo:
            break
        for i, m in todo:
            sampling.record(i, outcomes[i, sampling.n[i]:sampling.n[i] + m].tolist())
    adaptive, used = sampling.state, sampling.samples_used
    agree = sum(a == f for a, f in zip(adaptive, fixed)) / n_problems
    by_state = {s: sum(f == s for f in fixed) for s in ("saturated", "in_band", "out_of_reach")}
    return {
        "problems": n_problems,
        "agreement": round(agree, 4),
        "sample_share": round(used / (n_problems * rule.n_max), 4),
        "fixed_states": by_state,
        "in_band_kept_fixed": by_state["in_band"],
        "in_band_kept_adaptive": sum(a == "in_band" for a in adaptive),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--round", type=int, default=8, help="samples drawn per problem per round")
    args = parser.parse_args(argv)
    band, rule = Band(), StoppingRule()
    rows = []
    for name, pop in (("default curve", {}), ("harder (midpoint op 8)", {"midpoint": 8.0}),
                      ("narrow spread", {"concentration": 20.0})):
        result = simulate(args.problems, args.seed, band, rule, args.round, **pop)
        rows.append((name, result))
    print(f"band: pass@1 <= {band.tau_1}, pass@{band.k} >= {band.tau_k}; rule: give up after "
          f"{rule.give_up_after}, z = {rule.z}, rounds of {args.round}")
    print(f"{'population':<24} {'agreement':>9} {'samples vs n=128':>17} {'kept fixed':>10} {'kept adaptive':>13}")
    for name, r in rows:
        print(f"{name:<24} {r['agreement']:>9.4f} {r['sample_share']:>17.4f} {r['in_band_kept_fixed']:>10} "
              f"{r['in_band_kept_adaptive']:>13}")
    print(json.dumps({"benchmark": "filter", "band": band.as_dict(), "rule": {"n_max": rule.n_max, "give_up_after": rule.give_up_after, "z": rule.z, "round": args.round},
                      "results": {name: r for name, r in rows}}, default=str))
    return 0 if all(r["agreement"] >= 0.95 and r["sample_share"] <= 0.40 for _, r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
