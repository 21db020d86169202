"""A study's figures (the paper's), each a PNG with the table behind it (CSV), and ``report.md``.

The paper draws its conclusions from study-level figures, so a study's report is one figure per
question, made from every arm's evaluation and RL metrics:

- ``passk_by_op``: pass@k (k = 1 .. n) by evaluation op, for each arm's RL checkpoint and its base;
- ``context_transfer``: pass@1 and pass@k on context B against B's share in pre-training;
- ``compute_allocation``: pass@1 and pass@k on OOD-edge and OOD-hard against the budget, per allocation;
- ``reward_errors``: each error type per rollout, and outcome minus verified, over RL steps;

and, whatever the figures, ``arm_changes.csv``: each arm's RL checkpoint against its start, per split.

Splits are relative to the run (ID = op 2..M, the pre-training ops; edge M+1..M+4; hard M+5..M+10),
which at the paper's M = 10 are its fixed 2-10 / 11-14 / 15-20.
"""

from __future__ import annotations

import csv
import glob
import json
import os
from collections.abc import Callable
from typing import Any

from interplay_verl import intervals
from interplay_verl.atomic import atomic_write_text
from interplay_verl.metrics import at_k, relative_splits, split_entry


def evaluation_dir(arm_dir: str, checkpoint: str) -> str:
    """Where an arm's evaluation of ``checkpoint`` (base, mid, rl) lives."""
    return os.path.join(arm_dir, *evaluation_parts(checkpoint))


def evaluation_parts(checkpoint: str) -> tuple[str, ...]:
    """The same, inside a run (whose stages an arm links by name); the pipeline writes there. Base
    and mid are stages of their own, so arms that share them share them."""
    return {"base": ("eval_base",), "mid": ("eval_mid",)}.get(checkpoint) or ("evaluate", checkpoint)


def _report(arm_dir: str, checkpoint: str) -> dict | None:
    path = os.path.join(evaluation_dir(arm_dir, checkpoint), "report.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _kmax(report: dict) -> int:
    return max(int(k) for k in report["pass_at_k"]["k"])


def _common_kmax(arm_dirs: dict[str, str], checkpoints=("base", "rl")) -> int:
    """The largest k every report has (arms may sample different n): one column for all of them."""
    ks = [_kmax(r) for d in arm_dirs.values() for c in checkpoints if (r := _report(d, c)) is not None]
    return min(ks) if ks else 1


def _write_csv(path: str, rows: list[dict]) -> str:
    import io

    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
    return path


def passk_by_op(study, arm_dirs: dict[str, str], out: str) -> dict:
    from interplay_verl import plots

    series: dict[str, dict[int, dict[int, float]]] = {}
    rows = []
    bases: dict[str, str] = {}  # a base shared by several arms is drawn once
    for arm in study.arms:
        for checkpoint in ("base", "rl"):
            report = _report(arm_dirs[arm.name], checkpoint)
            if report is None:
                continue
            if checkpoint == "base":
                real = os.path.realpath(evaluation_dir(arm_dirs[arm.name], "base"))
                if real in bases:
                    continue
                label = bases[real] = "base" if not bases else f"base of {arm.name}"
            else:
                label = arm.label or arm.name
            by_op = {int(op): {int(k): v for k, v in e["outcome"].items()} for op, e in report["pass_at_k"]["by_op"].items()}
            series[label] = by_op
            for op, entry in sorted(report["pass_at_k"]["by_op"].items(), key=lambda kv: int(kv[0])):
                for k in sorted(entry["outcome"], key=int):
                    rows.append({"arm": arm.name, "checkpoint": checkpoint, "label": label, "op": int(op), "k": int(k),
                                 "outcome": entry["outcome"][k], "verified": entry["verified"][k],
                                 "problems": entry["problems"]})
    png = plots.study_passk_by_op(series, os.path.join(out, "passk_by_op.png"),
                                  f"{study.name}: pass@k by evaluation op (outcome; dashed: base)")
    return {"png": png, "csv": _write_csv(os.path.join(out, "passk_by_op.csv"), rows), "rows": len(rows)}


def _share_of(contexts: str, name: str) -> float:
    from interplay_verl.problems.mixtures import context_weights

    return context_weights(contexts).get(name, 0.0)


def context_transfer(study, arm_dirs: dict[str, str], out: str, context: str = "school") -> dict:
    """pass@1 and pass@k on ``context`` (B) against its pre-training share, one line per family and RL."""
    from interplay_verl import plots

    rows, kmax = [], _common_kmax(arm_dirs)
    for arm in study.arms:
        cfg = study.configs[arm.name]
        share = _share_of(cfg.data.contexts, context)
        family = 2 if cfg.pretrain.context_ops else 1
        for checkpoint in ("base", "rl"):
            report = _report(arm_dirs[arm.name], checkpoint)
            entry = (report or {}).get("pass_at_k", {}).get("by_context", {}).get(context)
            if entry is None:
                continue
            line = (f"family {family} base" if checkpoint == "base"
                    else f"family {family}, RL {cfg.filter.contexts}, {cfg.rl.variant}")
            rows.append({"arm": arm.name, "checkpoint": checkpoint, "line": line, "share": share,
                         "pass@1": at_k(entry["outcome"], 1), f"pass@{kmax}": at_k(entry["outcome"], kmax),
                         "verified@1": at_k(entry["verified"], 1), "problems": entry["problems"]})
    panels: dict[str, dict[str, list]] = {}
    for column in ("pass@1", f"pass@{kmax}"):
        lines: dict[str, set] = {}
        for row in rows:  # a base several arms share is one point
            lines.setdefault(row["line"], set()).add((row["share"], row[column]))
        panels[f"{column} on {context}"] = {line: sorted(points) for line, points in lines.items()}
    png = plots.study_lines(panels, os.path.join(out, "context_transfer.png"),
                            f"{study.name}: transfer to {context} against its pre-training share", "share of "
                            f"{context} in pre-training", xscale="symlog")
    return {"png": png, "csv": _write_csv(os.path.join(out, "context_transfer.csv"), rows), "rows": len(rows)}


def compute_allocation(study, arm_dirs: dict[str, str], out: str) -> dict:
    """pass@1 and pass@k on OOD-edge and OOD-hard (relative splits) against the budget N, per share f."""
    from interplay_verl import plots

    splits = relative_splits(int(study.vars.get("M", 10)))
    rows, kmax = [], _common_kmax(arm_dirs, ("rl",))
    for arm in study.arms:
        report = _report(arm_dirs[arm.name], "rl")
        if report is None or "N" not in arm.point:
            continue
        f = arm.point.get("f", 0.0)
        row = {"arm": arm.name, "budget": arm.point["N"], "mid_share": f, "ours": bool(arm.compare_to)}
        for split in ("ood_edge", "ood_hard"):
            for k in (1, kmax):
                entry = split_entry(report["pass_at_k"]["by_op"], *splits[split])
                row[f"{split} pass@{k}"] = at_k(entry["outcome"], k) if entry else None
        rows.append(row)
    panels = {}
    for split in ("ood_edge", "ood_hard"):
        for k in (1, kmax):
            column = f"{split} pass@{k}"
            lines: dict[str, list] = {}
            for row in rows:
                if row[column] is not None:
                    name = "RL only" if not row["mid_share"] else f"mid-training share {row['mid_share']}"
                    name += " (ours)" if row["ours"] else ""
                    lines.setdefault(name, []).append((row["budget"], row[column]))
            panels[column] = lines
    png = plots.study_lines(panels, os.path.join(out, "compute_allocation.png"),
                            f"{study.name}: equal compute, mid-training vs RL", "budget (nominal RL steps)")
    return {"png": png, "csv": _write_csv(os.path.join(out, "compute_allocation.csv"), rows), "rows": len(rows)}


REWARD_KEYS = ("missing", "extra", "wrong_value", "wrong_parents")


def reward_errors(study, arm_dirs: dict[str, str], out: str) -> dict:
    """From every arm's RL metrics: each structural error per rollout and outcome - verified, per step."""
    from interplay_verl import plots
    from interplay_verl.train.launch import read_metrics

    curves: dict[str, dict[str, list]] = {}
    rows = []
    for arm in study.arms:
        files = sorted(glob.glob(os.path.join(arm_dirs[arm.name], "rl", "metrics", "run-*.jsonl")))
        steps: dict[int, dict] = {}
        for path in files:  # a resumed run's later launch wins for a step it repeats
            for record in read_metrics(path):
                steps[int(record["step"])] = record["data"]
        arm_curves: dict[str, list] = {}
        for step, data in sorted(steps.items()):
            row = {"arm": arm.name, "step": step}
            for key in REWARD_KEYS:
                if f"reward/{key}/mean" in data:
                    row[key] = data[f"reward/{key}/mean"]
                    arm_curves.setdefault(key, []).append((step, row[key]))
            if "reward/outcome/mean" in data and "reward/verified/mean" in data:
                row["outcome - verified"] = data["reward/outcome/mean"] - data["reward/verified/mean"]
                arm_curves.setdefault("outcome - verified", []).append((step, row["outcome - verified"]))
            rows.append(row)
        if arm_curves:
            curves[arm.label or arm.name] = arm_curves
    png = plots.study_reward_curves(curves, os.path.join(out, "reward_errors.png"),
                                    f"{study.name}: structural errors per rollout and the outcome-verified gap")
    fields = ["arm", "step", *REWARD_KEYS, "outcome - verified"]
    rows = [{f: row.get(f) for f in fields} for row in rows]
    return {"png": png, "csv": _write_csv(os.path.join(out, "reward_errors.csv"), rows), "rows": len(rows)}


MEASURES = (("verified", 1), ("outcome", 1), ("verified", 0), ("outcome", 0))  # k = 0: the report's largest k


def samples_loader(arm_dirs: dict[str, str]) -> Callable[[str, str], Any]:
    """``(arm, checkpoint) -> samples`` (None when that evaluation is not there), each file read once:
    arms share a base, and the findings and the per-arm table read the same evaluations."""
    from interplay_verl.findings import ERRORS

    cache: dict[tuple[str, str], Any] = {}

    def samples_of(arm: str, checkpoint: str):
        if (arm, checkpoint) not in cache:
            cache[arm, checkpoint] = None if arm not in arm_dirs else intervals.load_samples(
                evaluation_dir(arm_dirs[arm], checkpoint), extra=("context", *ERRORS, "reward_error"))
        return cache[arm, checkpoint]

    return samples_of


def _start(study, arm: str, samples_of) -> str:
    """The checkpoint the arm's RL starts from (the pipeline's ``_rl_start``, which eval_mid evaluates):
    mid-training's when the arm mid-trains. Without its composed configuration (a report read from
    outside a study run), an evaluation of the mid checkpoint is what says so."""
    cfg = study.configs.get(arm)
    if cfg is not None:
        return "mid" if cfg.midtrain.enable else "base"
    return "mid" if samples_of(arm, "mid") is not None else "base"


def _contexts(frames) -> list:
    """The contexts to read one by one: those every frame holds, when there are several."""
    held = [set(f["context"]) if "context" in f else set() for f in frames]
    shared = sorted(set.intersection(*held))
    return shared if len(shared) > 1 else []


def arm_changes(study, samples_of: Callable[[str, str], Any], kmax: int, out: str) -> dict:
    """Each arm's RL checkpoint against the checkpoint its RL started from, per split (and per context
    where the evaluation has several), paired over the same problems with a bootstrap interval.

    The findings compare arms with each other; this table is what each arm's RL did on its own, which
    is where a finding that fails is explained (RL that moved nothing, or drifted)."""
    splits = relative_splits(int(study.vars.get("M", 10)))
    measures = list(dict.fromkeys((kind, k or kmax) for kind, k in MEASURES))  # one column each when kmax is 1
    rows = []
    for arm in study.arms:
        start = _start(study, arm.name, samples_of)
        frames = [samples_of(arm.name, c) for c in (start, "rl")]
        if any(f is None for f in frames):  # not evaluated yet (or its start was not)
            continue
        for split, ops in splits.items():
            in_split = [intervals.select(f, ops) for f in frames]
            if any(len(f) == 0 for f in in_split):
                continue
            for context in [None, *_contexts(in_split)]:
                chosen = [intervals.select(f, context=context) for f in in_split]
                for kind, k in measures:
                    try:
                        change = intervals.paired_change(*(intervals.per_problem(f, kind, k) for f in chosen))
                    except ValueError:  # fewer samples than k, or no problem in common: not measurable
                        continue
                    rows.append({"arm": arm.name, "label": arm.label or arm.name, "start": start, "split": split,
                                 "ops": f"{ops[0]}-{ops[1]}", "context": context or "all",
                                 "measure": f"{kind} pass@{k}", **change})
    return {"csv": _write_csv(os.path.join(out, "arm_changes.csv"), rows), "rows": len(rows),
            "markdown": _arm_changes_markdown(rows, [f"{kind} pass@{k}" for kind, k in measures])}


def _arm_changes_markdown(rows: list[dict], measures: list[str]) -> list[str]:
    """One line per arm and split (and context), every measure in it, so that a reader sees at a glance
    which of an arm's numbers RL moved beyond the noise (bold)."""
    lines = ["| arm | start | split | " + " | ".join(measures) + " |", "|---|---|---|" + "---|" * len(measures)]
    grouped: dict[tuple, dict[str, dict]] = {}
    for row in rows:
        key = (row["arm"], row["label"], row["start"], row["split"], row["ops"], row["context"])
        grouped.setdefault(key, {})[row["measure"]] = row
    for (_, label, start, split, ops, context), cells in grouped.items():
        where = f"{split} ({ops}{'' if context == 'all' else ', ' + context})"
        shown = []
        for measure in measures:
            c = cells.get(measure)
            change = "" if c is None else intervals.describe(c, 3)
            shown.append("" if c is None else f"{c['before']:.3f} → {c['after']:.3f}, "
                         + (f"**{change}**" if c["beyond_noise"] else change))
        lines.append(f"| {label} | {start} | {where} | " + " | ".join(shown) + " |")
    return lines


FIGURES: dict[str, Callable[..., dict]] = {"passk_by_op": passk_by_op, "context_transfer": context_transfer,
                                           "compute_allocation": compute_allocation, "reward_errors": reward_errors}


def write_report(study, arm_dirs: dict[str, str], out: str) -> dict[str, Any]:
    """Every figure the study names, and ``report.md`` / ``report.json`` beside them."""
    os.makedirs(out, exist_ok=True)
    from interplay_verl import findings as paper_findings

    made = {name: FIGURES[name](study, arm_dirs, out) for name in study.figures}
    samples_of = samples_loader(arm_dirs)
    checked = paper_findings.check_findings(study, samples_of, _common_kmax(arm_dirs)) if study.findings else []
    lines = [f"# Study {study.name} ({study.scale})", "", study.description, "",
             "| arm | label | settings |", "|---|---|---|"]
    for arm in study.arms:
        own = ", ".join(f"`{k}={arm.settings[k]}`" for k in arm.own if k in arm.settings)
        lines.append(f"| {arm.name} | {arm.label} | {own} |")
    if checked:
        lines += ["", "## Findings", "", "Each check: a paired change over the same held-out problems with its 95% "
                  "bootstrap interval (interplay_verl/findings.py says how a check holds and a verdict is reached).",
                  *paper_findings.markdown(checked)]
    changes = arm_changes(study, samples_of, _common_kmax(arm_dirs, ("base", "mid", "rl")), out)
    if changes["rows"]:
        lines += ["", "## Each arm's RL against its start", "",
                  "The RL checkpoint against the checkpoint its RL started from (the base, or the mid-training "
                  "checkpoint), over the same held-out problems: start → RL, and the paired change with its 95% "
                  "bootstrap interval (bold: the interval excludes 0). "
                  f"Table: [`arm_changes.csv`](arm_changes.csv) ({changes['rows']} rows).", "",
                  *changes["markdown"]]
    for name, result in made.items():
        lines += ["", f"## {name}", "", f"![{name}]({os.path.basename(result['png'])})", "",
                  f"Table: [`{os.path.basename(result['csv'])}`]({os.path.basename(result['csv'])}) ({result['rows']} rows)"]
    atomic_write_text(os.path.join(out, "report.md"), "\n".join(lines) + "\n")
    atomic_write_text(os.path.join(out, "report.json"), json.dumps({"study": study.name, "scale": study.scale,
                                                                    "figures": made, "findings": checked,
                                                                    "arm_changes": changes["csv"]},
                                                                   indent=1) + "\n")
    return made
