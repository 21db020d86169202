"""What problems look like, per op: our style, the paper style, and (given a directory) the paper's own generator.

    .venv/bin/python benchmarks/generator_stats.py                       # both styles, 200 rows per cell
    .venv/bin/python benchmarks/generator_stats.py --released DIR        # + jsonl rows of the authors' generator

Every statistic is read from the row's text the same way for all three sources (the paper's
rows have no graph): share of questions asking a total, sentences and characters per problem,
solution steps ("Define"), distractor sentences (stated instances the solution never uses),
share of problems with a compound statement ("k plus the sum of A and B"), share with a
necessary quantity of value 0 (read by the verifier's parser). Prints a table and a JSON line.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
import time

COMPOUND = re.compile(r"equals \d+ (?:plus|times) the (?:sum|difference) ")
COLUMNS = ("total_question", "sentences", "chars", "steps", "distractors", "compound", "zero_value")


def stats(rows: list[dict]) -> dict:
    from interplay_verl.verify.parse import parse_solution

    out = {c: 0.0 for c in COLUMNS}
    for row in rows:
        problem = row["problem"].strip()
        sentences = [s for s in problem.rstrip(".").split(". ") if s]
        steps = row["solution"].count("Define ")
        totals = len(re.findall(r"Define total ", row["solution"]))
        reverse = row["mode"] in ("reverse", "forwardreverse")
        out["total_question"] += row["question"].startswith("What is the total")
        out["sentences"] += len(sentences)
        out["chars"] += len(problem)
        out["steps"] += steps
        out["distractors"] += len(sentences) - (steps - totals) - reverse
        out["compound"] += bool(COMPOUND.search(problem))
        values = [node.value for node in parse_solution(row["solution"]).nodes.values()]
        out["zero_value"] += any(v == 0 for v in values)
    return {c: round(v / max(1, len(rows)), 3) for c, v in out.items()} | {"n": len(rows)}


def ours(style: str, op: int, mode: str, n: int) -> list[dict]:
    from interplay_verl.problems.contexts import BUILTIN, load_context
    from interplay_verl.problems.rows import generate_row

    contexts = [load_context(c) for c in BUILTIN]  # the three contexts in turn, as the paper's data
    return [generate_row(op, mode, contexts[i % 3], seed=0, index=i, style=style) for i in range(n)]


def released(directory: str, op: int, mode: str, n: int) -> list[dict]:
    wanted = "normalforward" if mode == "forward" else "forwardreverse"
    rows = []
    for path in sorted(glob.glob(os.path.join(directory, "**", "*.jsonl"), recursive=True)):
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                if int(row["op"]) == op and row["mode"] == wanted:
                    rows.append(row)
    return rows[:n]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ops", default="3,6,9,12,15")
    p.add_argument("--mode", default="forward", choices=("forward", "reverse"))
    p.add_argument("--n", type=int, default=200, help="rows per op and source")
    p.add_argument("--released", help="a directory of the authors' generator output (jsonl)")
    args = p.parse_args(argv)
    ops = [int(o) for o in args.ops.split(",")]
    sources = {"interplay": lambda op: ours("interplay", op, args.mode, args.n),
               "paper style": lambda op: ours("paper", op, args.mode, args.n)}
    if args.released:
        sources["released generator"] = lambda op: released(args.released, op, args.mode, args.n)
    result, seconds = {}, {}
    for name, rows_of in sources.items():
        start = time.time()
        result[name] = {op: stats(rows_of(op)) for op in ops}
        seconds[name] = round(time.time() - start, 1)
    print(f"{args.mode}, {args.n} rows per cell")
    print(f"{'statistic':<16}{'source':<20}" + "".join(f"{'op ' + str(op):>9}" for op in ops))
    for column in (*COLUMNS, "n"):
        for name in sources:
            print(f"{column:<16}{name:<20}" + "".join(f"{result[name][op][column]:>9}" for op in ops))
    print(json.dumps({"benchmark": "generator_stats", "mode": args.mode, "n": args.n, "stats": result,
                      "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
