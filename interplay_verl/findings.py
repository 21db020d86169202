"""The paper's findings, checked against a study's arms: the claim, our measurement, a verdict.

A figure shows a trend; a reader rerunning the paper wants to know whether the trend is there
beyond the noise of a few dozen problems. Each finding is a handful of *checks*, each a paired
change between two evaluations of the same held-out problems (an arm's RL checkpoint against
its base, or two arms' RL checkpoints against each other), with its bootstrap interval over
problems (``interplay_verl.intervals``). A check expects the change to go ``up``, ``down``, or
``not up`` (the paper's "does not raise"), and holds, fails, or says nothing:

- ``up`` / ``down`` holds when the interval excludes 0 on the claimed side, fails when it
  excludes 0 on the other, and is inconclusive otherwise;
- ``not up`` fails when the change is up beyond the noise, holds when the interval's upper end
  is below ``MARGIN`` (0.05), and is inconclusive in between (too few problems to rule out a rise);
- a check whose two evaluations score 0 on every problem is *at the floor*, and one where both
  score 1 on every problem *at the ceiling*: neither can show a change, so it says nothing; nor
  does one over fewer than ``MIN_PROBLEMS`` (10) problems.

The paper's pass@k is process-verified; a CPU-scale model often verifies nothing beyond its
pre-training ops, so each pass@k check is read on ``verified`` unless that is at the floor, then
on ``outcome``, and the verdict says so: with answers of at most 20, guessing alone reaches an
outcome pass@16 near 0.5, so a verdict read on outcome is weaker evidence. A finding is
*reproduced in direction* when every check ran and holds, *not reproduced* when one fails, and
*inconclusive* otherwise. A check whose arms or samples are missing (a scale that runs a
subset; an evaluation that cannot be paired) is listed as not run, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

from interplay_verl import intervals
from interplay_verl.metrics import relative_splits

ERRORS = ("missing", "extra", "wrong_parents")  # structural errors: the graph, not the arithmetic
VERDICTS = ("reproduced in direction", "not reproduced", "inconclusive")
MARGIN = 0.05  # a "not up" check holds only when its interval rules out a rise this large
MIN_PROBLEMS = 10  # a bootstrap over fewer problems than this says nothing


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
        return False if up else (True if change["high"] < MARGIN else None)
    claimed, other = (up, down) if expect == "up" else (down, up)
    return True if claimed else (False if other else None)


def _scores(samples, kind: str, k: int) -> dict[str, float]:
    if kind == "errors":  # a sample the reward failed on (reward_error) or did not count says nothing
        samples = samples[samples["reward_error"] == 0] if "reward_error" in samples else samples
        errors = samples[list(ERRORS)].sum(axis=1, min_count=len(ERRORS)).dropna()
        return {i: float(v) for i, v in errors.groupby(samples.loc[errors.index, "id"], sort=True).mean().items()}
    return intervals.per_problem(samples, kind, k)


def measure(check: Check, samples_of: Callable[[str, str], Any]) -> dict:
    """The check's change, read on its first kind not at the floor; ``{"run": False}`` without its data."""
    frames = [samples_of(*check.after), samples_of(*check.before)]
    if any(f is None for f in frames):
        return {"run": False, "why": "arm or evaluation not in this run"}
    selected = [intervals.select(frame, check.ops, check.context) for frame in frames]
    if any(len(f) == 0 for f in selected):
        return {"run": False, "why": "no evaluated problem at these ops"}
    kinds = ("errors",) if check.k == 0 else check.kinds
    try:
        for kind in kinds:
            after, before = (_scores(f, kind, check.k) for f in selected)
            shared = sorted(set(after) & set(before))
            after, before = {i: after[i] for i in shared}, {i: before[i] for i in shared}
            values = [*after.values(), *before.values()]
            bound = None if kind == "errors" or not values else (
                "floor" if not any(values) else "ceiling" if all(v == 1 for v in values) else None)
            if bound != "floor" or kind == kinds[-1]:
                break
        change = intervals.paired_change(before, after)
    except ValueError as exc:  # no shared problem, fewer samples than k: the check cannot be read
        return {"run": False, "why": str(exc)}
    return {"run": True, "kind": kind, "k": check.k, "bound": bound, **change,
            "holds": None if bound or change["problems"] < MIN_PROBLEMS else _holds(check.expect, change)}


def verdict(checks: list[Check]) -> tuple[str, list[str]]:
    """The finding's verdict, and what it rests on when that is less than every check read on verified."""
    ran = [c.result for c in checks if c.result.get("run")]
    holds = [r["holds"] for r in ran]
    if ran and len(ran) == len(checks) and all(h is True for h in holds):
        word = VERDICTS[0]
    elif any(h is False for h in holds):
        word = VERDICTS[1]
    else:
        word = VERDICTS[2]
    notes = [f"{len(ran)} of {len(checks)} checks ran"] if len(ran) < len(checks) else []
    on_outcome = sum(r["kind"] == "outcome" for r in ran)
    if on_outcome:
        notes.append(f"{on_outcome} of them read on outcome, verified being at the floor")
    at_bound = [r["bound"] for r in ran if r.get("bound")]
    if at_bound:
        notes.append(f"{len(at_bound)} of them say nothing, at the {' or '.join(sorted(set(at_bound)))}")
    return word, notes


# -- the paper's four findings, as checks over a study's arms ------------------------------------
# Each takes the study (its arms, their settings and grid points, M) and the k every evaluation has.


def _arm(study, name: str = "", **point) -> str:
    """The paper arm named ``name``, or the one at grid ``point``; "" when this scale does not run it."""
    for arm in study.arms:
        if (arm.name == name) if name else (not arm.compare_to and arm.point == point):
            return arm.name
    return name or f"<no arm at {point}>"


def _ops(study, arm: str, default: tuple[int, int]) -> tuple[int, int]:
    """The op range an arm RLs on (its ``filter.ops``), as the study file says."""
    from interplay_verl.metrics import split_ops

    settings = next((a.settings for a in study.arms if a.name == arm), {})
    if "filter.ops" not in settings:
        return default
    ops = split_ops(str(settings["filter.ops"]))
    return min(ops), max(ops)


def edge_of_competence(study, kmax: int) -> tuple[str, list[Check]]:
    M = int(study.vars["M"])
    s = relative_splits(M)
    edge, far, top = _arm(study, "edge"), _arm(study, "far"), _arm(study, "id_top")
    return ("RL on ops at the edge of competence raises pass@k on those ops over the base; RL on ops far "
            "beyond it does not; on ID ops RL sharpens pass@1 without raising pass@k", [
        Check(f"RL on the edge range vs the base, pass@{kmax} on the edge ops", (edge, "rl"), (edge, "base"),
              _ops(study, edge, s["ood_edge"]), "up", kmax),
        Check(f"RL on the edge range vs RL far beyond, pass@{kmax} on the edge ops", (edge, "rl"), (far, "rl"),
              _ops(study, edge, s["ood_edge"]), "up", kmax),
        Check(f"RL far beyond vs the base, pass@{kmax} on its own ops", (far, "rl"), (far, "base"),
              _ops(study, far, (M + 7, M + 10)), "not up", kmax),
        Check(f"RL far beyond vs the base, pass@{kmax} on OOD-hard", (far, "rl"), (far, "base"),
              s["ood_hard"], "not up", kmax),
        Check("RL on the top ID ops vs the base, pass@1 on ID", (top, "rl"), (top, "base"), s["id"], "up", 1),
        Check(f"RL on the top ID ops vs the base, pass@{kmax} on ID", (top, "rl"), (top, "base"),
              s["id"], "not up", kmax),
    ])


def _family1_rl_on_b(study, share: float) -> str:
    """Family 1 (B at every op) at B share ``share``, RL on B alone with the outcome reward."""
    for arm in study.arms:
        if (not arm.compare_to and arm.point.get("b") == share and arm.settings.get("filter.contexts") == "school"
                and arm.settings.get("rl.variant") == "outcome" and "pretrain.context_ops.school" not in arm.settings):
            return arm.name
    return f"<no family-1 arm at B share {share}>"


def context_transfer(study, kmax: int) -> tuple[str, list[Check]]:
    id_ = relative_splits(int(study.vars["M"]))["id"]
    checks = []
    for share, expect in ((0, "not up"), (0.001, "not up"), (0.01, "up"), (0.1, "up")):
        arm = _family1_rl_on_b(study, share)
        checks.append(Check(f"B share {share}: RL on B vs the base, pass@{kmax} on B", (arm, "rl"), (arm, "base"),
                            id_, expect, kmax, context="school"))
    return ("With 0% or 0.1% of context B in pre-training RL does not transfer to B; with 1% or more it does",
            checks)


def compute_allocation(study, kmax: int, shares=(0.2, 0.5, 0.8)) -> tuple[str, list[Check]]:
    s = relative_splits(int(study.vars["M"]))
    budget = max((a.point["N"] for a in study.arms if "N" in a.point and not a.compare_to), default=None)
    rl_only = _arm(study, N=budget)
    checks = [Check(f"budget {budget}: mid-training share {f} + RL vs RL only, pass@1 on OOD-edge",
                    (_arm(study, f=f, N=budget), "rl"), (rl_only, "rl"), s["ood_edge"], "up", 1) for f in shares]
    heavy, light = _arm(study, f=shares[0], N=budget), _arm(study, f=shares[-1], N=budget)
    checks += [
        Check(f"budget {budget}: mid-training share {shares[0]} + RL vs RL only, pass@{kmax} on OOD-hard",
              (heavy, "rl"), (rl_only, "rl"), s["ood_hard"], "up", kmax),
        Check(f"budget {budget}: heavier RL (share {shares[0]}) vs lighter ({shares[-1]}), pass@{kmax} on OOD-hard",
              (heavy, "rl"), (light, "rl"), s["ood_hard"], "up", kmax)]
    return ("At equal compute, mid-training + RL beats RL alone on OOD-edge pass@1 (and on OOD-hard pass@k), "
            "and heavier RL helps OOD-hard pass@k", checks)


def process_reward(study, kmax: int) -> tuple[str, list[Check]]:
    s = relative_splits(int(study.vars["M"]))
    outcome = _arm(study, "outcome")
    checks = []
    for arm in ("process0.8", "process0.5", "strict"):
        checks.append(Check(f"{arm} vs outcome reward: structural errors (missing + extra + wrong parents) per "
                            "sample on the RL ops", (_arm(study, arm), "rl"), (outcome, "rl"),
                            _ops(study, outcome, s["ood_edge"]), "down", 0))
    for arm in ("process0.8", "process0.5"):
        checks.append(Check(f"{arm} vs outcome reward: verified pass@1 on OOD-hard", (_arm(study, arm), "rl"),
                            (outcome, "rl"), s["ood_hard"], "up", 1, kinds=("verified",)))
    return ("Process-aware rewards cut structural errors (missing, extra, wrong parents) against "
            "outcome-only, and raise verified pass@1 on OOD-hard", checks)


FINDINGS: dict[str, Callable[..., tuple[str, list[Check]]]] = {
    "edge_of_competence": edge_of_competence, "context_transfer": context_transfer,
    "compute_allocation": compute_allocation, "process_reward": process_reward}


def check_findings(study, samples_of: Callable[[str, str], Any], kmax: int) -> list[dict]:
    """Every finding the study names, measured on its arms' evaluation samples (``samples_of(arm,
    checkpoint)``, None when that evaluation is not there)."""
    out = []
    for name in study.findings:
        claim, checks = FINDINGS[name](study, kmax)
        for check in checks:
            check.result = measure(check, samples_of)
        word, notes = verdict(checks)
        out.append({"finding": name, "claim": claim, "verdict": word, "notes": notes,
                    "checks": [{"what": c.what, "after": list(c.after), "before": list(c.before), "ops": list(c.ops),
                                "context": c.context, "expect": c.expect, **c.result} for c in checks]})
    return out


def markdown(findings: list[dict]) -> list[str]:
    """The report's findings section: per finding its claim, verdict, and a table of its checks."""
    lines = []
    for f in findings:
        notes = f" ({'; '.join(f['notes'])})" if f["notes"] else ""
        lines += ["", f"### {f['finding']}: {f['verdict']}{notes}", "", f"Paper: {f['claim']}.", "",
                  "| check | ops | expects | read on | before | after | change [95% interval] | problems | holds |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for c in f["checks"]:
            ops = f"{c['ops'][0]}-{c['ops'][1]}" + (f", {c['context']}" if c["context"] else "")
            if not c["run"]:
                lines.append(f"| {c['what']} | {ops} | {c['expect']} | not run: {c['why']} | | | | | |")
                continue
            kind = "structural errors / sample" if c["kind"] == "errors" else f"{c['kind']} pass@{c['k']}"
            holds = (f"says nothing: at the {c['bound']} ({c['before']:g} before and after)" if c["bound"]
                     else f"says nothing: {c['problems']} problems" if c["problems"] < MIN_PROBLEMS
                     else {True: "yes", False: "**no**", None: "inconclusive"}[c["holds"]])
            lines.append(f"| {c['what']} | {ops} | {c['expect']} | {kind} | {c['before']:.3f} | {c['after']:.3f} "
                         f"| {intervals.describe(c)} | {c['problems']} | {holds} |")
    return lines
