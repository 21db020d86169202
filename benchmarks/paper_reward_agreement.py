"""How often ``compute_score(..., semantics="paper")`` agrees with the authors' released reward, and
how often our own reading does, on corrupted gold solutions of released-format rows.

The released reward is imported at run time from a checkout of the authors' repository
(``--released-repo``: its ``verl/reward_fn.py`` and ``utils/solution_dependency_graph.py``);
nothing of it is copied here. Rows are released-format jsonl/parquet (the paper's data, or
the output of the authors' generator). Each gold solution is corrupted twelve ways (a number changed, a
step dropped, a letter swapped, a wrong answer, an unclosed answer tag, two answer tags, a
capitalised name, a trailing period, three periods, the last number changed, an empty
solution, none), and each variant is scored by both rewards, gated
(``compute_score_with_step_process``) and strict.

    python benchmarks/paper_reward_agreement.py --released-repo ~/Interplay-LM-Reasoning --rows data/
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from interplay_verl.data.released import input_files, records  # noqa: E402
from interplay_verl.rewards.composite import compute_score  # noqa: E402

KINDS = ("number", "drop_step", "letter", "wrong_answer", "unclosed", "two_answers", "name_case",
         "trailing_period", "periods", "last_number", "empty", "none")


def corrupt(solution: str, answer: str, kind: str, rng: random.Random) -> str:
    body = solution.replace(f"Answer: {answer}.", "").strip()
    tag = f" </solution> <answer> {answer} </answer>"
    if kind == "number":
        m = rng.choice(list(re.finditer(r"\d+", body)))
        body = body[:m.start()] + str(int(m.group()) + rng.randint(1, 3)) + body[m.end():]
    elif kind == "drop_step":
        steps = body.split("Define ")
        if len(steps) > 2:
            del steps[rng.randrange(1, len(steps))]
        body = "Define ".join(steps)
    elif kind == "letter":
        body = re.sub(r"= ([A-Za-z]) ", lambda m: "= " + rng.choice("abcdefg") + " ", body, count=1)
    elif kind == "wrong_answer":
        tag = f" </solution> <answer> {int(float(answer)) + 1} </answer>"
    elif kind == "unclosed":
        tag = f" </solution> <answer> {answer}"
    elif kind == "two_answers":
        tag += f" <answer> {int(float(answer)) + 1} </answer>"
    elif kind == "name_case":
        body = re.sub(r"Define (\w)", lambda m: "Define " + m.group(1).upper(), body, count=1)
    elif kind == "trailing_period":
        tag = f" </solution> <answer> {answer}. </answer>"
    elif kind == "periods":
        tag = f" </solution> <answer> {answer}... </answer>"
    elif kind == "empty":
        return ""
    elif kind == "last_number":
        m = list(re.finditer(r"\d+", body))[-1]
        body = body[:m.start()] + str(int(m.group()) + 1) + body[m.end():]
    return body + tag


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--released-repo", required=True, help="a checkout of Interplay-LM-Reasoning/Interplay-LM-Reasoning")
    p.add_argument("--rows", required=True, help="released-format rows: a .jsonl/.parquet file or a directory")
    p.add_argument("--limit", type=int, default=2000, help="rows at most")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    import importlib.util

    repo = os.path.abspath(os.path.expanduser(args.released_repo))
    sys.path.insert(0, repo)  # their reward imports utils.solution_dependency_graph from the checkout's root
    spec = importlib.util.spec_from_file_location("released_reward_fn", os.path.join(repo, "verl", "reward_fn.py"))
    reward_fn = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reward_fn)  # the authors' reward, from their checkout

    rng = random.Random(args.seed)
    rows = [r for path in input_files(args.rows) for _, r in records(path)][:args.limit]
    start = time.time()
    total, paper_differs, ours_differs = Counter(), Counter(), Counter()
    for row in rows:
        answer = row["solution"].rsplit("Answer:", 1)[-1].strip().rstrip(".")
        for kind in KINDS:
            pred = corrupt(row["solution"], answer, kind, rng)
            for variant, released_fn in (("gated", reward_fn.compute_score_with_step_process),
                                         ("strict", reward_fn.compute_score_with_step_process_strict)):
                theirs = released_fn(pred, {"answer": answer}, extra_info={"gold_solution": row["solution"]})
                key = (row["mode"], kind)
                total[key] += 1
                for semantics, counter in (("paper", paper_differs), ("interplay", ours_differs)):
                    ours = compute_score("released", pred, answer, {"gold_solution": row["solution"]},
                                         semantics=semantics, variant=variant)
                    if (abs(ours["score"] - theirs["score"]) > 1e-9 or abs(ours["process"] - theirs["process_reward"]) > 1e-9
                            or ours["outcome"] != theirs["outcome_reward"]):
                        counter[key] += 1
    n = sum(total.values())
    print(f"{'mode':<16} {'corruption':<16} {'scored':>7} {'paper differs':>14} {'ours differs':>13}")
    for key in sorted(total):
        print(f"{key[0]:<16} {key[1]:<16} {total[key]:>7} {paper_differs[key]:>14} {ours_differs[key]:>13}")
    result = {"benchmark": "paper_reward_agreement", "rows": len(rows), "scored": n,
              "paper_semantics_differs": sum(paper_differs.values()), "ours_differs": sum(ours_differs.values()),
              "ours_differs_share": round(sum(ours_differs.values()) / n, 4) if n else None,
              "seconds": round(time.time() - start, 1)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
