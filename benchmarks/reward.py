"""Process-verification reward speed: microseconds per call on gold traces, and adversarial input time.

Rows: op 2-10, 11-14, 15-20 x forward/reverse, gold traces from the generator, gold graphs
cached (as after the first epoch of RL). Columns, all measured in the same run:
  compiled   the default: verify/_native.c (parse + compare)
  py warm    pure Python (INTERPLAY_VERL_PURE_PYTHON=1), every step seen before (step cache hit:
             GRPO's other samples, later epochs, evaluation's n samples per problem)
  py cold    pure Python, every step new
  re-parse   pure Python, cold, re-parsing the gold solution text on every call, as the
             paper's reward does (~540 us there on this machine class)
The issue's target is <= 25 us per call at op 15-20. Ratios are what to compare across runs.

    python benchmarks/reward.py [-n 300] [--repeats 5]
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
    parser.add_argument("--repeats", type=int, default=5, help="best of this many passes")
    args = parser.parse_args(argv)

    from interplay_verl.problems.contexts import load_context
    from interplay_verl.problems.rows import generate_row
    from interplay_verl.rewards.composite import compute_score
    from interplay_verl.verify.compare import GoldGraph, verify

    from interplay_verl.verify import parse

    compiled, cached = parse.native, parse._parse_step_cached
    if compiled is None:
        print("compiled verifier not built (pip install -e . with a C compiler); its column repeats py warm")

    def python(fn, cold=False):
        """The same call on the pure-Python verifier, optionally with the step cache off."""
        def call(*args):
            parse.native = None
            if cold:
                parse._parse_step_cached = parse._parse_step
            try:
                return fn(*args)
            finally:
                parse.native, parse._parse_step_cached = compiled, cached
        return call

    ctx = load_context("zoo")
    cols = ("compiled", "py_warm", "py_cold", "reparse")
    result: dict = {"benchmark": "reward", "n": args.n, "compiled_built": compiled is not None,
                    "us_per_call": {c: {} for c in cols}}
    print(f"{'ops':>7} {'mode':>8} {'compiled us':>12} {'py warm us':>11} {'py cold us':>11} {'re-parse us':>12} "
          f"{'py cold/compiled':>17}")
    for lo, hi in ((2, 10), (11, 14), (15, 20)):
        for mode in ("forward", "reverse"):
            rows = [generate_row(lo + i % (hi - lo + 1), mode, ctx, seed=11, index=i) for i in range(args.n)]
            items = [("interplay", r["text"].split("<solution>", 1)[1], r["answer"], {"graph": r["graph"]}) for r in rows]
            for item in items:  # fill the gold cache (and the step cache), as after the first epoch of RL
                compute_score(*item)
                python(compute_score)(*item)
            gold_texts = [(it[1], r["solution"], r["answer"]) for it, r in zip(items, rows)]
            us = {
                "compiled": per_call_us(compute_score, items, args.repeats),
                "py_warm": per_call_us(python(compute_score), items, args.repeats),
                "py_cold": per_call_us(python(compute_score, cold=True), items, args.repeats),
                "reparse": per_call_us(python(lambda s, g, a: verify(s, GoldGraph.from_solution(g, a)), cold=True),
                                       gold_texts, args.repeats),
            }
            key = f"{mode}_op{lo}-{hi}"
            for c in cols:
                result["us_per_call"][c][key] = round(us[c], 1)
            print(f"{lo:>3}-{hi:<3} {mode:>8} {us['compiled']:>12.1f} {us['py_warm']:>11.1f} {us['py_cold']:>11.1f} "
                  f"{us['reparse']:>12.1f} {us['py_cold'] / us['compiled']:>17.2f}")

    graph = {"graph": rows[0]["graph"]}
    adversarial = {
        "repeated_steps": "Define adult lynx in Ash Valley as a; so a = 3. ",
        "nested_parens": "(",
        "defines": "Define ",
        "equals": "so a = a = ",
        "long_name": "Define a" + " " * 4096 + "b as q; so q = 3.",
        "temporaries": "Define t as t; u = t t t t t t t t; t = u u u u u u u u; ",  # x8 per level uncapped
    }
    result["adversarial_ms"] = {}
    verifiers = {"compiled": compute_score, "python": python(compute_score, cold=True)}
    for name, unit in adversarial.items():
        for verifier, fn in verifiers.items():
            times = {}
            for size in (65536, 1 << 20):
                text = (unit * (size // len(unit) + 1))[:size]
                start = time.perf_counter()
                fn("interplay", text, "3", graph)
                times[size] = 1000 * (time.perf_counter() - start)
            result["adversarial_ms"][f"{name}/{verifier}"] = {
                "64KB": round(times[65536], 2), "1MB": round(times[1 << 20], 2),
                "1MB/64KB": round(times[1 << 20] / times[65536], 1)}
            print(f"adversarial {name:<15} {verifier:<9} 64 KB {times[65536]:7.2f} ms   1 MB {times[1 << 20]:8.2f} ms   "
                  f"ratio {times[1 << 20] / times[65536]:5.1f} (16 = linear)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
