"""The paper's findings, checked against a study's arms: the claim, our measurement, a verdict.

A figure shows a trend; a reader rerunning the paper wants to know whether the trend is there
beyond the noise of a few dozen problems. Each finding is a handful of *checks*, each a paired
change between two evaluations of the same held-out problems (an arm's RL checkpoint against
its base, or two arms' RL checkpoints against each other), with its bootstrap interval over
problems (``interplay_verl.intervals``). A check expects the change to go ``up``, ``down``, or
``not up`` (the paper's "does not raise"), and holds, fails, or says nothing:

- ``up`` / ``down`` holds when the interval excludes 0 on the claimed side, fails when it
  excludes 0 on the other, and is inconclusive otherwise;
- ``not up`` fails when the change is up beyond the noise, and holds otherwise;
- any check whose two evaluations score 0 on every problem is *at the floor*: a model that
  solves none of those problems before or after cannot show a change, so it says nothing.

The paper's pass@k is process-verified; a CPU-scale model often verifies nothing beyond its
pre-training ops, so each pass@k check is read on ``verified`` unless that is at the floor, then
on ``outcome``, and says which. A finding is *reproduced in direction* when every check it ran
holds, *not reproduced* when one fails, and *inconclusive* otherwise. A check whose arms are not
in the run (a scale that runs a subset) is listed as not run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

from interplay_verl import intervals
from interplay_verl.metrics import relative_splits

ERRORS = ("missing", "extra", "wrong_parents")  # structural errors: the graph, not the arithmetic
VERDICTS = ("reproduced in direction", "not reproduced", "inconclusive")


@dataclass
class Check:
    """after - before on ops ``ops`` (and ``context``); ``after``/``before`` are (arm, checkpoint)."""

    what: str
    after: tuple[str, str]
    before: tuple[str, str]
    ops: tuple[int, int]
    expect: str  # up | down | not up
    k: int = 1  # pass@k; 0: structural errors per sample instead
    context: Optional[str] = None
    kinds: tuple[str, ...] = ("verified", "outcome")  # the first not at the floor is read
    result: dict = field(default_factory=dict)


def _holds(expect: str, change: dict) -> Optional[bool]:
    up, down = change["beyond_noise"] and change["change"] > 0, change["beyond_noise"] and change["change"] < 0
    if expect == "not up":
        return not up
    claimed, other = (up, down) if expect == "up" else (down, up)
    return True if claimed else (False if other else None)


def _scores(samples, kind: str, k: int) -> dict[str, float]:
    if kind == "errors":
        errors = samples[list(ERRORS)].sum(axis=1)
        return {i: float(v) for i, v in errors.groupby(samples["id"], sort=True).mean().items()}
    return intervals.per_problem(samples, kind, k)


def measure(check: Check, samples_of: Callable[[str, str], Any]) -> dict:
    """The check's change, read on its first kind not at the floor; ``{"run": False}`` without its data."""
    frames = [samples_of(*check.after), samples_of(*check.before)]
    if any(f is None for f in frames):
        return {"run": False}
    selected = []
    for frame in frames:
        frame = intervals.in_ops(frame, *check.ops)
        if check.context is not None:
            frame = frame[frame["context"] == check.context]
        selected.append(frame)
    if any(len(f) == 0 for f in selected):
        return {"run": False}
    kinds = ("errors",) if check.k == 0 else check.kinds
    for kind in kinds:
        after, before = (_scores(f, kind, check.k) for f in selected)
        floor = kind != "errors" and not any(after.values()) and not any(before.values())
        if not floor or kind == kinds[-1]:
            break
    change = intervals.paired_change(before, after)
    return {"run": True, "kind": kind, "k": check.k, "floor": floor,
            "before": round(sum(before.values()) / len(before), 4), "after": round(sum(after.values()) / len(after), 4),
            **change, "holds": None if floor else _holds(check.expect, change)}


def verdict(checks: list[Check]) -> str:
    ran = [c.result["holds"] for c in checks if c.result.get("run")]
    if ran and all(h is True for h in ran):
        return VERDICTS[0]
    if any(h is False for h in ran):
        return VERDICTS[1]
    return VERDICTS[2]


# -- the paper's four findings, as checks over a study's arms ------------------------------------


def edge_of_competence(M: int, kmax: int) -> tuple[str, list[Check]]:
    s = relative_splits(M)
    edge, hard, id_ = s["ood_edge"], s["ood_hard"], s["id"]
    far = (M + 7, M + 10)
    return ("RL on ops at the edge of competence raises pass@k on those ops over the base; RL on ops far "
            "beyond it does not; on ID ops RL sharpens pass@1 without raising pass@k", [
        Check(f"RL on the edge range vs the base, pass@{kmax} on the edge ops", ("edge", "rl"), ("edge", "base"),
              edge, "up", kmax),
        Check(f"RL on the edge range vs RL far beyond, pass@{kmax} on the edge ops", ("edge", "rl"), ("far", "rl"),
              edge, "up", kmax),
        Check(f"RL far beyond vs the base, pass@{kmax} on its own ops", ("far", "rl"), ("far", "base"),
              far, "not up", kmax),
        Check(f"RL far beyond vs the base, pass@{kmax} on OOD-hard", ("far", "rl"), ("far", "base"),
              hard, "not up", kmax),
        Check("RL on the top ID ops vs the base, pass@1 on ID", ("id_top", "rl"), ("id_top", "base"), id_, "up", 1),
        Check(f"RL on the top ID ops vs the base, pass@{kmax} on ID", ("id_top", "rl"), ("id_top", "base"),
              id_, "not up", kmax),
    ])


def context_transfer(M: int, kmax: int) -> tuple[str, list[Check]]:
    id_ = relative_splits(M)["id"]
    checks = []
    for share, expect in (("0", "not up"), ("0.001", "not up"), ("0.01", "up"), ("0.1", "up")):
        arm = f"f1_b{share}_rlB"
        checks.append(Check(f"B share {share}: RL on B vs the base, pass@{kmax} on B", (arm, "rl"), (arm, "base"),
                            id_, expect, kmax, context="school"))
    return ("With 0% or 0.1% of context B in pre-training RL does not transfer to B; with 1% or more it does",
            checks)


def compute_allocation(M: int, kmax: int, budget: Any, shares=(0.2, 0.5, 0.8)) -> tuple[str, list[Check]]:
    s = relative_splits(M)
    checks = [Check(f"budget {budget}: mid-training share {f} + RL vs RL only, pass@1 on OOD-edge",
                    (f"mid{f}_N{budget}", "rl"), (f"full_rl_N{budget}", "rl"), s["ood_edge"], "up", 1)
              for f in shares]
    checks.append(Check(f"budget {budget}: heavier RL (share 0.2) vs lighter (0.8), pass@{kmax} on OOD-hard",
                        (f"mid{shares[0]}_N{budget}", "rl"), (f"mid{shares[-1]}_N{budget}", "rl"),
                        s["ood_hard"], "up", kmax))
    return ("At equal compute, mid-training + RL beats RL alone on OOD-edge pass@1, and heavier RL helps "
            "OOD-hard pass@k", checks)


def process_reward(M: int, kmax: int) -> tuple[str, list[Check]]:
    s = relative_splits(M)
    checks = []
    for arm in ("process0.8", "process0.5", "strict"):
        checks.append(Check(f"{arm} vs outcome reward: structural errors (missing + extra + wrong parents) per "
                            "sample on the RL ops", (arm, "rl"), ("outcome", "rl"), s["ood_edge"], "down", 0))
    for arm in ("process0.8", "process0.5"):
        checks.append(Check(f"{arm} vs outcome reward: verified pass@1 on OOD-hard", (arm, "rl"), ("outcome", "rl"),
                            s["ood_hard"], "up", 1, kinds=("verified",)))
    return ("Process-aware rewards cut structural errors (missing, extra, wrong parents) against "
            "outcome-only, and raise verified pass@1 on OOD-hard", checks)


FINDINGS: dict[str, Callable[..., tuple[str, list[Check]]]] = {
    "edge_of_competence": edge_of_competence, "context_transfer": context_transfer,
    "compute_allocation": compute_allocation, "process_reward": process_reward}


def _evaluation_dir(arm_dir: str, checkpoint: str) -> str:
    return os.path.join(arm_dir, "eval_base") if checkpoint == "base" else os.path.join(arm_dir, "evaluate", checkpoint)


def check_findings(study, arm_dirs: dict[str, str], kmax: int) -> list[dict]:
    """Every finding the study names, measured on its arms' evaluation samples."""
    import pandas as pd

    cache: dict[tuple[str, str], Any] = {}

    def samples_of(arm: str, checkpoint: str):
        if (arm, checkpoint) not in cache:
            path = os.path.join(_evaluation_dir(arm_dirs[arm], checkpoint), "samples.parquet") if arm in arm_dirs else ""
            cache[arm, checkpoint] = pd.read_parquet(path, columns=["id", "op", "context", "outcome", "verified",
                                                                    *ERRORS]) if os.path.exists(path) else None
        return cache[arm, checkpoint]

    M = int(study.vars.get("M", 10))
    out = []
    for name in study.findings:
        extra = {"budget": study.vars["Nmax"]} if name == "compute_allocation" else {}
        claim, checks = FINDINGS[name](M, kmax, **extra)
        for check in checks:
            check.result = measure(check, samples_of)
        out.append({"finding": name, "claim": claim, "verdict": verdict(checks),
                    "checks": [{"what": c.what, "after": list(c.after), "before": list(c.before), "ops": list(c.ops),
                                "context": c.context, "expect": c.expect, **c.result} for c in checks]})
    return out


def markdown(findings: list[dict]) -> list[str]:
    """The report's findings section: per finding its claim, verdict, and a table of its checks."""
    lines = []
    for f in findings:
        lines += ["", f"### {f['finding']}: {f['verdict']}", "", f"Paper: {f['claim']}.", "",
                  "| check | ops | expects | read on | before | after | change [95% interval] | problems | holds |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for c in f["checks"]:
            ops = f"{c['ops'][0]}-{c['ops'][1]}" + (f", {c['context']}" if c["context"] else "")
            if not c["run"]:
                lines.append(f"| {c['what']} | {ops} | {c['expect']} | not run (arm or ops not in this run) "
                             "| | | | | |")
                continue
            kind = "structural errors / sample" if c["kind"] == "errors" else f"{c['kind']} pass@{c['k']}"
            holds = "at the floor (0 before and after)" if c["floor"] else {True: "yes", False: "**no**",
                                                                             None: "inconclusive"}[c["holds"]]
            lines.append(f"| {c['what']} | {ops} | {c['expect']} | {kind} | {c['before']:.3f} | {c['after']:.3f} "
                         f"| {intervals.describe(c)} | {c['problems']} | {holds} |")
    return lines
