"""Scoring throughput of evaluation: the verifier on every sample, then the aggregation (pass@k
ladder by op/context/mode/split, means, error breakdown) — one process, one core.

Samples are drawn from variants of the gold solutions of generated problems (op 2-20, both
modes): the gold text, a wrong final answer, a dropped step, a changed intermediate value, a
step duplicated, a bare answer. Like a model's n samples of one problem, the variants share most
of their steps. Reported: samples per second of the verifier alone, of aggregation alone, and
aggregation's share on top of the verifier (the target: <= 10%).

    python benchmarks/score.py [--samples 1000000] [--problems 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from interplay_verl.evaluation import summarize  # noqa: E402
from interplay_verl.rewards.composite import score_rows as score  # noqa: E402
from interplay_verl.problems.contexts import load_context  # noqa: E402
from interplay_verl.problems.rows import generate_row  # noqa: E402


def variants(row: dict, rng: random.Random) -> list[str]:
    gold = row["text"].split("<solution>", 1)[1]
    steps = gold.split("Define ")
    out = [gold, gold.replace(f"<answer> {row['answer']} </answer>", f"<answer> {int(row['answer']) + 1} </answer>"),
           f"<answer> {row['answer']} </answer>"]
    if len(steps) > 2:
        i = rng.randrange(1, len(steps) - 1)
        out.append("Define ".join(steps[:i] + steps[i + 1:]))  # a step dropped
        out.append("Define ".join(steps[:i + 1] + steps[i:]))  # a step duplicated
        digits = [j for j, ch in enumerate(steps[i]) if ch.isdigit()]
        if digits:
            j = digits[-1]
            changed = steps[i][:j] + str((int(steps[i][j]) + 1) % 10) + steps[i][j + 1:]
            out.append("Define ".join(steps[:i] + [changed] + steps[i + 1:]))  # a value changed
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--problems", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    ctx = load_context("zoo")
    problems = [generate_row(2 + i % 19, ("forward", "reverse")[(i // 19) % 2], ctx, args.seed, i)
                for i in range(args.problems)]
    per_problem = args.samples // len(problems)
    rows, texts = [], []
    for row in problems:
        options = variants(row, rng)
        rows += [row] * per_problem
        texts += [rng.choice(options) for _ in range(per_problem)]

    import pandas  # noqa: F401  a one-time import, not per-sample work: keep it out of the timing

    start = time.perf_counter()
    scores = score(rows, texts)
    verify_s = time.perf_counter() - start
    start = time.perf_counter()
    report = summarize(rows, scores)
    aggregate_s = time.perf_counter() - start
    n = len(rows)
    share = aggregate_s / verify_s
    print(f"{'stage':<22} {'seconds':>9} {'samples/s':>12}")
    print(f"{'verifier':<22} {verify_s:>9.1f} {n / verify_s:>12,.0f}")
    print(f"{'aggregation':<22} {aggregate_s:>9.1f} {n / aggregate_s:>12,.0f}")
    print(f"{'verifier + aggregation':<22} {verify_s + aggregate_s:>9.1f} {n / (verify_s + aggregate_s):>12,.0f}")
    print(f"aggregation adds {100 * share:.1f}% to the verifier ({n:,} samples, {len(problems)} problems, "
          f"k up to {report['pass_at_k']['k'][-1]})")
    print(json.dumps({"benchmark": "score", "samples": n, "problems": len(problems), "verify_s": round(verify_s, 2),
                      "aggregate_s": round(aggregate_s, 2), "samples_per_s": round(n / (verify_s + aggregate_s)),
                      "aggregation_share": round(share, 4), "verified_rate": report["verified"]}))
    return 0 if share <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
