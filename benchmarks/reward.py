"""Process-verification reward speed: microseconds per call on gold traces, and adversarial input time.

Baseline in the same run: the same reward re-parsing the gold solution text on every call
(what the paper's reward does), against ours reading the cached gold graph. "warm" is a
response whose steps were seen before (the other samples of a GRPO group, the same prompt in a
later epoch, evaluation's n samples per problem: steps are parsed once and cached); "cold" is
a response whose every step is new. The issue's
target is <= 25 us per call at op 15-20; the paper's reward is reported at ~540 us there.

    python benchmarks/reward.py [-n 300] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def per_call_us(fn, items, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for item in items:
            fn(*item)
        best = min(best, time.perf_counter() - start)
    return 1e6 * best / len(items)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="gold traces per (op bin, mode)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from interplay_verl.problems.contexts import load_context
    from interplay_verl.problems.rows import generate_row
    from interplay_verl.rewards.composite import compute_score
    from interplay_verl.verify.compare import GoldGraph, verify

    from interplay_verl.verify import parse

    cached = parse._parse_step_cached

    def cold(fn):
        """The same call with the step cache off: a step never seen before."""
        def call(*args):
            parse._parse_step_cached = parse._parse_step
            try:
                return fn(*args)
            finally:
                parse._parse_step_cached = cached
        return call

    ctx = load_context("zoo")
    result: dict = {"benchmark": "reward", "n": args.n, "us_per_call": {}, "cold_us_per_call": {}, "reparse_baseline_us": {}}
    print(f"{'ops':>7} {'mode':>8} {'warm us':>9} {'cold us':>9} {'re-parse us':>12} {'cold ratio':>11}")
    for lo, hi in ((2, 10), (11, 14), (15, 20)):
        for mode in ("forward", "reverse"):
            rows = [generate_row(lo + i % (hi - lo + 1), mode, ctx, seed=11, index=i) for i in range(args.n)]
            items = [("interplay", r["text"].split("<solution>", 1)[1], r["answer"], {"graph": r["graph"]}) for r in rows]
            for item in items:  # fill the gold cache, as after the first epoch of RL
                compute_score(*item)
            ours = per_call_us(compute_score, items, args.repeats)
            ours_cold = per_call_us(cold(compute_score), items, args.repeats)
            gold_texts = [(it[1], r["solution"], r["answer"]) for it, r in zip(items, rows)]
            base = per_call_us(cold(lambda s, g, a: verify(s, GoldGraph.from_solution(g, a))), gold_texts, args.repeats)
            key = f"{mode}_op{lo}-{hi}"
            result["us_per_call"][key], result["cold_us_per_call"][key] = round(ours, 1), round(ours_cold, 1)
            result["reparse_baseline_us"][key] = round(base, 1)
            print(f"{lo:>3}-{hi:<3} {mode:>8} {ours:>9.1f} {ours_cold:>9.1f} {base:>12.1f} {base / ours_cold:>11.2f}")

    graph = {"graph": rows[0]["graph"]}
    adversarial = {
        "repeated_steps": "Define adult lynx in Ash Valley as a; so a = 3. ",
        "nested_parens": "(",
        "defines": "Define ",
        "equals": "so a = a = ",
    }
    result["adversarial_ms"] = {}
    for name, unit in adversarial.items():
        times = {}
        for size in (65536, 1 << 20):
            text = (unit * (size // len(unit) + 1))[:size]
            start = time.perf_counter()
            compute_score("interplay", text, "3", graph)
            times[size] = 1000 * (time.perf_counter() - start)
        result["adversarial_ms"][name] = {"64KB": round(times[65536], 2), "1MB": round(times[1 << 20], 2),
                                          "1MB/64KB": round(times[1 << 20] / times[65536], 1)}
        print(f"adversarial {name:<15} 64 KB {times[65536]:7.2f} ms   1 MB {times[1 << 20]:8.2f} ms   "
              f"ratio {times[1 << 20] / times[65536]:5.1f} (16 = linear)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
