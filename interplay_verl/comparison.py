"""``interplay-verl compare A B ...``: one report for several checkpoints' evaluations.

The paper's claims are deltas: what mid-training or RL adds to pass@1 and pass@128 on each
split. This reads the ``report.json`` of each ``interplay-verl evaluate`` output directory
(base, mid-trained, RL, ...) and writes ``comparison.md`` (pass@1 and pass@k_max per split,
outcome and process-verified, with the change from the first checkpoint), the same numbers as
``comparison.json``, and ``comparison.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional
from collections.abc import Sequence

from interplay_verl import intervals
from interplay_verl.metrics import KINDS, SPLITS, at_k, relative_splits, split_entry

SPLIT_ORDER = ("all", *SPLITS)


def load_report(directory: str) -> dict:
    path = os.path.join(directory, "report.json")
    if not os.path.exists(path):
        raise ValueError(f"{directory}: no report.json (is it an `interplay-verl evaluate --out` directory?)")
    with open(path) as f:
        report = json.load(f)
    if not report.get("pass_at_k"):
        raise ValueError(f"{path}: has no pass@k table")
    return report


def compare(names: Sequence[str], reports: Sequence[dict], id_top: Optional[int] = None,
            samples: Optional[Sequence] = None, extra_splits: Optional[dict[str, tuple[int, int]]] = None) -> dict:
    """{split: {name: {kind: {k: value}}}} at k = 1 and the largest k every report has, plus deltas.

    ``id_top`` (M, the run's top pre-training op) adds the splits relative to the run
    (``run_id`` = op 2..M, ``run_ood_edge``, ``run_ood_hard``) beside the paper's fixed ones;
    ``extra_splits`` adds named op ranges (the pipeline's ``rl_ops``). With every checkpoint's
    ``samples`` (``intervals.load_samples``), each value gets its bootstrap interval and each
    change from the first checkpoint a paired one (``interplay_verl.intervals``)."""
    if len(names) != len(reports) or not reports:
        raise ValueError("give one name per evaluation directory")
    kmax = min(max(int(k) for k in r["pass_at_k"]["k"]) for r in reports)
    ks = sorted({1, kmax})
    table: dict = {}
    relative = {f"run_{name}": bounds for name, bounds in relative_splits(id_top).items()} if id_top else {}
    relative.update(extra_splits or {})
    bounds_of = {"all": (None, None), **SPLITS, **relative}
    with_samples = samples is not None and all(s is not None for s in samples)
    for split in (*SPLIT_ORDER, *relative):
        entries = []
        for report in reports:
            t = report["pass_at_k"]
            if split in relative:
                entries.append(split_entry(t["by_op"], *relative[split]))
            else:
                entries.append(t["overall"] if split == "all" else t.get("by_split", {}).get(split))
        if any(e is None for e in entries):
            continue
        table[split] = {}
        for name, entry in zip(names, entries):
            table[split][name] = {kind: {k: at_k(entry[kind], k) for k in ks} for kind in KINDS}
            table[split][name]["problems"] = entry["problems"]
        first = table[split][names[0]]
        for name in names[1:]:
            row = table[split][name]
            row["delta"] = {kind: {k: round(row[kind][k] - first[kind][k], 4) for k in ks} for kind in KINDS}
        if with_samples:
            _add_intervals(table[split], names, [intervals.in_ops(s, *bounds_of[split]) for s in samples], ks)
    evaluated = {}  # a split's ops the evaluation holds, where it holds only some of them (tiny runs: op 2-7)
    for split in table:
        lo, hi = bounds_of[split]
        if lo is not None:
            ops = [int(op) for op in reports[0]["pass_at_k"]["by_op"] if lo <= int(op) <= hi]
            if ops and (min(ops), max(ops)) != (lo, hi):
                evaluated[split] = [min(ops), max(ops)]
    return {"names": list(names), "k": ks, "splits": table, "intervals": with_samples, "evaluated_ops": evaluated,
            **({"run_splits": {s: list(b) for s, b in relative.items()}} if relative else {})}


def _add_intervals(rows: dict, names: Sequence[str], samples: Sequence, ks: Sequence[int]) -> None:
    """Each checkpoint's interval, the paired interval of its change from the first and, from the
    third on, of its change from the one before (RL against the checkpoint it started from)."""
    for kind in KINDS:
        for k in ks:
            scores = [intervals.per_problem(s, kind, k) for s in samples]
            for name, score in zip(names, scores):
                lo, hi = intervals.interval(list(score.values()))
                rows[name].setdefault("interval", {}).setdefault(kind, {})[k] = [round(lo, 4), round(hi, 4)]
            for i, (name, score) in enumerate(zip(names[1:], scores[1:]), start=1):
                rows[name].setdefault("change", {}).setdefault(kind, {})[k] = intervals.paired_change(scores[0], score)
                if i > 1:
                    rows[name].setdefault("step_change", {}).setdefault(kind, {})[k] = \
                        intervals.paired_change(scores[i - 1], score)


def markdown(result: dict) -> str:
    ks, names = result["k"], result["names"]
    header = "| split | checkpoint | problems | " + " | ".join(
        f"{kind} pass@{k}" for kind in KINDS for k in ks) + " |"
    note = (f"{names[0]} with its 95% interval; the others with their change from {names[0]} and the change's "
            "paired 95% interval (bootstrap over problems, interplay_verl/intervals.py); * marks a change whose "
            "interval excludes 0" if result.get("intervals") else f"change vs {names[0]} in brackets")
    lines = [f"# Comparison: {', '.join(names)}", "", note, "", header,
             "|---|---|---|" + "---|" * (2 * len(ks))]
    for split, rows in result["splits"].items():
        for name in names:
            row = rows[name]
            cells = []
            for kind in KINDS:
                for k in ks:
                    cell = f"{row[kind][k]:.4f}"
                    if "change" in row:
                        change = row["change"][kind][k]
                        cell += f" ({intervals.describe(change)}){'*' if change['beyond_noise'] else ''}"
                    elif "delta" in row:
                        cell += f" ({row['delta'][kind][k]:+.4f})"
                    elif "interval" in row:
                        cell += " [{:.4f}, {:.4f}]".format(*row["interval"][kind][k])
                    cells.append(cell)
            lines.append(f"| {_label(result, split)} | {name} | {row['problems']} | " + " | ".join(cells) + " |")
    steps = [(split, i) for split, rows in result["splits"].items() for i in range(2, len(names))
             if "step_change" in rows[names[i]]]
    if steps:
        lines += ["", "## Each checkpoint against the one before it", "",
                  "The change and its paired 95% interval; * marks one whose interval excludes 0.", "",
                  "| split | checkpoint | against | " + " | ".join(
                      f"{kind} pass@{k}" for kind in KINDS for k in ks) + " |", "|---|---|---|" + "---|" * (2 * len(ks))]
        for split, i in steps:
            change = result["splits"][split][names[i]]["step_change"]
            cells = [intervals.describe(change[kind][k]) + ("*" if change[kind][k]["beyond_noise"] else "")
                     for kind in KINDS for k in ks]
            lines.append(f"| {_label(result, split)} | {names[i]} | {names[i - 1]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _label(result: dict, split: str) -> str:
    bounds = result.get("run_splits", {}).get(split)
    evaluated = result.get("evaluated_ops", {}).get(split)
    parts = ([f"op {bounds[0]}-{bounds[1]}"] if bounds else []) + (
        [f"evaluated {evaluated[0]}-{evaluated[1]}"] if evaluated else [])
    return f"{split} ({', '.join(parts)})" if parts else split


def run(dirs: Sequence[str], out: str, names: Optional[Sequence[str]] = None, id_top: Optional[int] = None,
        extra_splits: Optional[dict[str, tuple[int, int]]] = None) -> dict:
    from interplay_verl import plots
    from interplay_verl.atomic import atomic_write_text
    from interplay_verl.manifest import write_manifest

    names = list(names) if names else [os.path.basename(os.path.normpath(d)) for d in dirs]
    if len(names) != len(dirs):
        raise ValueError(f"--names has {len(names)} names for {len(dirs)} directories")
    reports = [load_report(d) for d in dirs]
    result = compare(names, reports, id_top, [intervals.load_samples(d) for d in dirs], extra_splits)
    os.makedirs(out, exist_ok=True)
    atomic_write_text(os.path.join(out, "comparison.json"), json.dumps(result, indent=2) + "\n")
    atomic_write_text(os.path.join(out, "comparison.md"), markdown(result))
    plots.compare_plot(names, reports, os.path.join(out, "comparison.png"))
    write_manifest(out, config={"evaluations": [os.path.abspath(d) for d in dirs], "names": names, "id_top": id_top,
                                "extra_splits": extra_splits},
                   seed=None,
                   kind="comparison")
    return result


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="interplay-verl compare", description=__doc__.splitlines()[0])
    p.add_argument("evaluations", nargs="+", help="`interplay-verl evaluate --out` directories, the baseline first")
    p.add_argument("--names", help="comma-separated display names (default: the directory names)")
    p.add_argument("--out", required=True, help="directory for comparison.md/json/png")
    p.add_argument("--id-top", type=int, help="the run's top pre-training op M: adds splits relative to the run "
                   "(ID 2..M, OOD-edge M+1..M+4, OOD-hard M+5..M+10)")
    args = p.parse_args(argv)
    from interplay_verl.command import report

    names = args.names.split(",") if args.names else None
    return report("compare", lambda: run(args.evaluations, args.out, names, args.id_top), (ValueError, OSError))


if __name__ == "__main__":
    sys.exit(main())
