"""Where the test suite's time goes, from pytest's JUnit file: seconds per test module and the
slowest tests, each as a share of the whole.

The CI run writes its file to ``$TMPDIR/interplay-verl-ci/junit.xml`` (``.ci/run``); CI keeps its
console output only when it fails, so this file is the record of a passing run. A module's time
includes the fixtures its first test built (pytest books a fixture's set-up to the test that
needs it first).

    python benchmarks/suite_times.py [JUNIT] [--top 15]
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
    args = p.parse_args(argv)
    if not os.path.exists(args.junit):
        p.error(f"{args.junit} does not exist: run the tests with --junitxml={args.junit} (.ci/run does)")
    cases = read_times(args.junit)
    total = sum(s for _, _, s in cases) or 1.0
    by_module = collections.Counter()
    for module, _, seconds in cases:
        by_module[module] += seconds
    print(f"{len(cases)} tests, {total / 60:.1f} min in tests ({args.junit})\n")
    print(f"{'module':<28} {'min':>6} {'share':>6}")
    for module, seconds in by_module.most_common():
        print(f"{module:<28} {seconds / 60:>6.1f} {seconds / total:>6.1%}")
    print(f"\n{'slowest tests':<72} {'s':>6} {'share':>6}")
    for module, name, seconds in sorted(cases, key=lambda c: -c[2])[:args.top]:
        print(f"{(module + '::' + name)[:72]:<72} {seconds:>6.0f} {seconds / total:>6.1%}")
    summary = {"tests": len(cases), "seconds": round(total, 1),
               "modules": {m: round(s, 1) for m, s in by_module.most_common()}}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
