"""Where the test suite's time goes, from pytest's JUnit file: seconds per test module and the
slowest tests, each as a share of the whole.

The CI run writes its file to ``$TMPDIR/interplay-verl-ci/junit.xml`` (``.ci/run``); CI keeps its
console output only when it fails, so this file is the record of a passing run. A module's time
includes the fixtures its first test built (pytest books a fixture's set-up to the test that
needs it first).

Two runs taken at different times differ by the machine's speed as much as by the suite (the same
suite took 29 and 75 minutes on one machine in one day), so ``--against`` an earlier run's file
also gives the ratio over the tests both runs have: a suite ratio near that one is the machine,
not the suite.

    python benchmarks/suite_times.py [JUNIT] [--top 15] [--against EARLIER_JUNIT]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import xml.etree.ElementTree as ET

DEFAULT = os.path.join(os.environ.get("TMPDIR", "/tmp"), "interplay-verl-ci", "junit.xml")


def read_times(path: str) -> list[tuple[str, str, float]]:
    """(module, test, seconds) of every test case in a pytest JUnit file."""
    cases = []
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")[-1] or "?"
        cases.append((module, case.get("name", "?"), float(case.get("time", 0.0))))
    return cases


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("junit", nargs="?", default=DEFAULT, help="pytest's --junitxml file")
    p.add_argument("--top", type=int, default=15, help="how many of the slowest tests to list")
    p.add_argument("--against", help="an earlier run's JUnit file: each module's time in both, and their ratios")
    args = p.parse_args(argv)
    for path in (args.junit, args.against):
        if path and not os.path.exists(path):
            p.error(f"{path} does not exist: run the tests with --junitxml={path} (.ci/run does)")
    cases = read_times(args.junit)
    total = sum(s for _, _, s in cases) or 1.0
    by_module = per_module(cases)
    print(f"{len(cases)} tests, {total / 60:.1f} min in tests ({args.junit})\n")
    print(f"{'module':<28} {'min':>6} {'share':>6}")
    for module, seconds in by_module.most_common():
        print(f"{module:<28} {seconds / 60:>6.1f} {seconds / total:>6.1%}")
    print(f"\n{'slowest tests':<72} {'s':>6} {'share':>6}")
    for module, name, seconds in sorted(cases, key=lambda c: -c[2])[:args.top]:
        print(f"{(module + '::' + name)[:72]:<72} {seconds:>6.0f} {seconds / total:>6.1%}")
    summary = {"tests": len(cases), "seconds": round(total, 1),
               "modules": {m: round(s, 1) for m, s in by_module.most_common()}}
    if args.against:
        summary["against"] = compare(read_times(args.against), cases)
    print(json.dumps(summary))
    return summary


def per_module(cases: list[tuple[str, str, float]]) -> collections.Counter:
    by_module: collections.Counter = collections.Counter()
    for module, _, seconds in cases:
        by_module[module] += seconds
    return by_module


def compare(before: list[tuple[str, str, float]], after: list[tuple[str, str, float]]) -> dict:
    """Each module's minutes in both runs, the suite's ratio, and the ratio over the tests both have."""
    old, new = per_module(before), per_module(after)
    print(f"\n{'module':<28} {'before':>7} {'after':>7} {'ratio':>6}")
    for module in sorted(set(old) | set(new), key=lambda m: -(new[m] + old[m])):
        ratio = f"{new[module] / old[module]:.2f}" if old[module] and new[module] else "-"
        print(f"{module:<28} {old[module] / 60:>7.1f} {new[module] / 60:>7.1f} {ratio:>6}")
    times = {(m, n): s for m, n, s in before}
    common = [(times[m, n], s) for m, n, s in after if (m, n) in times]
    both = [sum(pair) for pair in zip(*common)] if common else [0.0, 0.0]
    out = {"seconds_before": round(sum(old.values()), 1), "seconds_after": round(sum(new.values()), 1),
           "ratio": round(sum(new.values()) / (sum(old.values()) or 1.0), 3), "common_tests": len(common),
           "common_ratio": round(both[1] / both[0], 3) if both[0] else None}
    print(f"{'suite':<28} {out['seconds_before'] / 60:>7.1f} {out['seconds_after'] / 60:>7.1f} {out['ratio']:>6.2f}")
    print(f"{f'the {len(common)} tests in both':<28} {both[0] / 60:>7.1f} {both[1] / 60:>7.1f} "
          f"{out['common_ratio'] or 0:>6.2f}")
    return out


if __name__ == "__main__":
    main()
