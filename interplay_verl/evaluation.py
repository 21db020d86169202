"""``interplay-verl evaluate``: sample a checkpoint on held-out problems and verify every sample.

Greedy by default; with ``--n-samples n --temperature t`` (the paper: 128 at 0.7) it reports
unbiased pass@k (``interplay_verl.metrics``) on the ladder k = 1, 2, 4, ... <= n, outcome and
process-verified, overall and by op, context, mode and split (ID op 2-10, OOD-edge 11-14,
OOD-hard 15-20). The problems are rows like every stage's (``interplay-verl eval-sets`` writes
the per-split sets, disjoint from the training data); sampling goes through ``sampling.py``.

The samples are scored by the same comparator as the RL reward
(``interplay_verl.rewards.composite``), so what evaluation reports is what RL optimised. An output
directory holds ``samples.parquet`` (one row per sample), ``report.json``, ``summary.csv``,
``report.md``, four plots (``plots.py``) and ``manifest.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import operator
import os
import sys
import time
from collections import Counter
from typing import Optional
from collections.abc import Sequence

from interplay_verl.rewards.composite import ERROR_KEYS as ERRORS



class Columns:
    """Samples as arrays: per-sample problem index and score columns, built in one pass each.

    Aggregating a million samples with per-sample Python loops cost a fifth of verifying them;
    building these columns in C-level passes and reducing them with numpy costs a few percent.
    """

    def __init__(self, rows: list[dict], scores: list[dict],
                 keys: Sequence[str] = ("outcome", "verified", "process", "process_acc", *ERRORS)):
        import numpy as np
        import pandas as pd

        # problems in order of first appearance; factorize hashes the ids in C (a dict loop over a
        # million rows cost as much as all the rest)
        problem, ids = pd.factorize(np.fromiter(map(operator.itemgetter("id"), rows), object, len(rows)))
        first = np.empty(len(ids), dtype=np.int64)
        first[problem[::-1]] = np.arange(len(rows) - 1, -1, -1)
        self.problems: list[dict] = [rows[i] for i in first]
        self.problem = problem.astype(np.int64, copy=False)
        self.problem_op = np.fromiter((int(r["op"]) for r in self.problems), np.int64, len(self.problems))
        self.op = self.problem_op[problem]
        per_sample = map(operator.itemgetter(*keys), scores) if len(keys) > 1 else ((s[keys[0]],) for s in scores)
        values = itertools.chain.from_iterable(per_sample)
        table = np.fromiter(values, np.float64, len(scores) * len(keys)).reshape(len(scores), len(keys))
        self.scores = {key: table[:, i] for i, key in enumerate(keys)}

    def mean(self, key: str) -> float:
        values = self.scores[key]
        return round(float(values.mean()), 4) if values.size else 0.0

    def by_op(self, keys: Sequence[str]) -> dict[int, dict]:
        """Per op: problems, samples and the mean of each key (one bincount per key, not a mask per op)."""
        import numpy as np

        ops = np.unique(self.op)
        group = np.searchsorted(ops, self.op)
        samples = np.bincount(group, minlength=len(ops))
        problems = np.bincount(np.searchsorted(ops, self.problem_op), minlength=len(ops))
        means = {key: np.bincount(group, weights=self.scores[key], minlength=len(ops)) / samples for key in keys}
        return {int(op): {"problems": int(problems[i]), "samples": int(samples[i]),
                          **{key: round(float(means[key][i]), 4) for key in keys}} for i, op in enumerate(ops)}


def pass_at_k_table(rows: list[dict], scores: list[dict], columns: Optional[Columns] = None) -> dict:
    """Unbiased pass@k on the ladder (docs/method.md#7-passk), outcome and process-verified: overall and by
    op, context, mode and split. ``rows``/``scores`` hold one entry per sample; a problem's samples
    share its ``id``."""
    from interplay_verl.metrics import Tally

    cols = columns or Columns(rows, scores, ("outcome", "verified"))
    return Tally.from_columns(cols.problem, cols.problems, cols.scores["outcome"], cols.scores["verified"]).table()


def summarize(rows: list[dict], scores: list[dict]) -> dict:
    import numpy as np

    if not rows:
        return {"problems": 0, "samples": 0, "pass_at_k": {}}
    cols = Columns(rows, scores)
    samples_per = np.bincount(cols.problem)
    answers: Counter = Counter()
    for problem, count in zip(cols.problems, samples_per):
        answers[str(problem["answer"])] += int(count)
    majority, count = answers.most_common(1)[0]
    by_op = cols.by_op(("outcome", "verified", "process", *ERRORS))
    return {
        "problems": len(cols.problems),
        "samples": len(rows),
        "well_formed": round(1 - cols.mean("unparseable"), 4),
        "process_reward": cols.mean("process"),
        "process_acc": cols.mean("process_acc"),
        "answer_accuracy": cols.mean("outcome"),
        "verified": cols.mean("verified"),
        "majority_answer": majority,
        "majority_answer_accuracy": round(count / len(rows), 4),
        "by_op": {op: {"problems": m["problems"], "samples": m["samples"], "answer_accuracy": m["outcome"],
                       "verified": m["verified"], "process_reward": m["process"],
                       "well_formed": round(1 - m["unparseable"], 4)} for op, m in by_op.items()},
        "errors_by_op": {op: {e: m[e] for e in ERRORS} for op, m in by_op.items()},
        "pass_at_k": pass_at_k_table(rows, scores, cols),
    }


def write_outputs(out: str, rows: list[dict], completions: list[str], scores: list[dict], report: dict) -> None:
    """Per-sample parquet, report.json, summary.csv, report.md and the plots; the manifest is the caller's."""
    import pyarrow as pa

    from interplay_verl import plots
    from interplay_verl.atomic import atomic_write_parquet, atomic_write_text
    from interplay_verl.metrics import split_of

    os.makedirs(out, exist_ok=True)
    table = pa.table({"id": [r["id"] for r in rows], "op": [int(r["op"]) for r in rows],
                      "context": [r["context"] for r in rows], "mode": [r["mode"] for r in rows],
                      "split": [split_of(int(r["op"])) for r in rows], "completion": completions,
                      **{k: [s[k] for s in scores] for k in scores[0]}})
    atomic_write_parquet(table, os.path.join(out, "samples.parquet"))
    atomic_write_text(os.path.join(out, "report.json"), json.dumps(report, indent=2) + "\n")
    atomic_write_text(os.path.join(out, "summary.csv"), summary_csv(report))
    atomic_write_text(os.path.join(out, "report.md"), summary_markdown(report))
    plots.evaluation_plots(report, out)
    failure_pictures(os.path.join(out, "failures"), rows, completions, scores)


def failure_pictures(out: str, rows: list[dict], completions: list[str], scores: list[dict],
                     per_split: int = 2) -> list[str]:
    """The first ``per_split`` unverified samples of each split, drawn gold beside solution
    (``plots.problem_picture``) with the graph as GraphML: where the numbers say how often a
    model fails, these show how."""
    from interplay_verl import plots
    from interplay_verl.metrics import split_of
    from interplay_verl.verify.graphs import comparison_graph, write_graphml

    drawn: dict[str, int] = {}
    paths = []
    for row, completion, score in zip(rows, completions, scores):
        split = split_of(int(row["op"]))
        if score.get("verified") or drawn.get(split, 0) >= per_split or not row.get("graph"):
            continue
        drawn[split] = drawn.get(split, 0) + 1
        graph, report = comparison_graph(row["graph"], completion)
        os.makedirs(out, exist_ok=True)
        stem = os.path.join(out, f"{split}-{drawn[split]}")
        counts = ", ".join(f"{len(getattr(report, k))} {k.replace('_', ' ')}"
                           for k in ("missing", "extra", "wrong_value", "wrong_parents"))
        title = (f"{row['id']}: op {row['op']}, {row['context']}, {row['mode']}; {counts}; "
                 f"answer {'right' if report.answer_correct else 'wrong'}")
        paths.append(plots.problem_picture(graph, stem + ".png", title))
        write_graphml(graph, stem + ".graphml")
    return paths


def summary_rows(report: dict) -> list[tuple]:
    """(group, value, kind, k, pass@k, problems) for overall and every group: the CSV's rows."""
    table = report["pass_at_k"]
    out = []
    groups = [("overall", "all", table["overall"])]
    for key in ("split", "op", "context", "mode"):
        groups += [(key, str(value), entry) for value, entry in table.get(f"by_{key}", {}).items()]
    for group, value, entry in groups:
        for kind in ("outcome", "verified"):
            for k, v in entry[kind].items():
                out.append((group, value, kind, int(k), v, entry["problems"]))
    return out


def summary_csv(report: dict) -> str:
    lines = ["group,value,kind,k,pass_at_k,problems"]
    lines += [",".join(str(x) for x in row) for row in summary_rows(report)]
    return "\n".join(lines) + "\n"


def summary_markdown(report: dict) -> str:
    """The report as Markdown tables: pass@1 and pass@k_max, outcome and verified, by split/op/context."""
    from interplay_verl.metrics import at_k

    table = report["pass_at_k"]
    kmax = max(int(k) for k in table["k"])
    lines = [f"# Evaluation: {report['problems']} problems, {table['samples_per_problem']} samples each", "",
             f"scored with the {report.get('semantics', 'interplay')} reading of a solution; "
             f"well-formed {report['well_formed']}, process reward {report['process_reward']}, answer accuracy "
             f"{report['answer_accuracy']} (always the most frequent answer: {report['majority_answer_accuracy']}), "
             f"verified {report['verified']}", ""]
    for key in ("split", "op", "context", "mode"):
        groups = [("all", table["overall"])] if key == "split" else []
        groups += list(table.get(f"by_{key}", {}).items())
        lines += [f"## by {key}", "", f"| {key} | problems | outcome pass@1 | outcome pass@{kmax} | verified pass@1 "
                  f"| verified pass@{kmax} |", "|---|---|---|---|---|---|"]
        for value, entry in groups:
            o, v = entry["outcome"], entry["verified"]
            lines.append(f"| {value} | {entry['problems']} | {at_k(o, 1)} | {at_k(o, kmax)} | {at_k(v, 1)} | {at_k(v, kmax)} |")
        lines.append("")
    lines += ["## mean errors per sample, by op", "", "| op | " + " | ".join(ERRORS) + " |",
              "|---|" + "---|" * len(ERRORS)]
    for op, errors in report["errors_by_op"].items():
        lines.append(f"| {op} | " + " | ".join(str(errors[e]) for e in ERRORS) + " |")
    return "\n".join(lines) + "\n"


def evaluate(model_dir: str, rows_dir: str, out: Optional[str] = None, *, n_problems: Optional[int] = None,
             max_new_tokens: int = 256, batch_size: int = 64, quiet: bool = False, n_samples: int = 1,
             temperature: float = 0.0, seed: int = 0, top_p: float = 1.0, backend: str = "auto",
             placement: Optional[dict] = None, semantics: str = "interplay") -> dict:
    """Sample ``n_samples`` completions of every problem in ``rows_dir`` (or ``n_problems`` of them,
    spread over op/context/mode), verify each, and write the report files to ``out``.

    ``placement``: where the replicas run (``sampling.sampler``); they end when this returns.
    ``semantics``: how each sample is read and scored (``rewards.composite.SEMANTICS``): ours, or
    ``paper``, the released reward's, for numbers set beside the paper's."""
    from interplay_verl.data.rows import load_rows, spread
    from interplay_verl.manifest import invalidate, write_manifest
    from interplay_verl.rewards.composite import check_reward_kwargs, score_rows
    from interplay_verl.sampling import flat_samples, pick_backend, session

    start = time.time()
    if n_samples < 1 or (n_samples > 1 and temperature <= 0):
        raise ValueError(f"--n-samples {n_samples} --temperature {temperature}: several samples need temperature > 0")
    check_reward_kwargs(semantics=semantics)
    backend = pick_backend(backend)
    problems = load_rows(rows_dir)
    if n_problems:
        problems = spread(problems, n_problems)
    if not problems:
        raise ValueError(f"{rows_dir}: no rows to evaluate")
    if out:
        os.makedirs(out, exist_ok=True)
        invalidate(out)
    rows = [r for r in problems for _ in range(n_samples)]
    with session(model_dir, backend, batch_size, **(placement or {})) as model_sampler:
        completions = flat_samples(model_sampler, [r["prompt"] for r in problems], n_samples,
                                   max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed,
                                   quiet=quiet)
    scores = score_rows(rows, completions, quiet, semantics=semantics)
    report = summarize(rows, scores)
    report["semantics"] = semantics
    report["seconds"] = round(time.time() - start, 1)
    report["samples_per_replica"] = model_sampler.served
    if out:
        write_outputs(out, rows, completions, scores, report)
        write_manifest(out, config={"model": os.path.abspath(model_dir), "rows": os.path.abspath(rows_dir),
                                    "n_problems": n_problems, "max_new_tokens": max_new_tokens,
                                    "n_samples": n_samples, "temperature": temperature, "top_p": top_p,
                                    "backend": backend, "decoding": "greedy" if temperature == 0 else "sampling",
                                    "semantics": semantics},
                       seed=seed, kind="evaluation", report={k: v for k, v in report.items() if k != "pass_at_k"})
    return report


def main(argv: Optional[list[str]] = None) -> int:
    from interplay_verl.models import add_model_arguments, model_path
    from interplay_verl.rewards.composite import SEMANTICS
    from interplay_verl.sampling import add_sampling_arguments, placement

    p = argparse.ArgumentParser(prog="interplay-verl evaluate", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_model_arguments(p, "the checkpoint (a stage's hf/)")
    p.add_argument("--rows", required=True,
                   help="held-out rows: `interplay-verl eval-sets` (ID / OOD-edge / OOD-hard) or `generate` output")
    p.add_argument("--out", help="directory for samples.parquet, report.json/csv/md, plots, manifest.json")
    p.add_argument("--n-problems", type=int, help="problems, spread over op/context/mode (default: all rows)")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--n-samples", type=int, default=1, help="samples per problem (pass@k up to k = n; the paper: 128)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (the paper samples at 0.7)")
    p.add_argument("--top-p", type=float, default=1.0)
    add_sampling_arguments(p)
    p.add_argument("--semantics", choices=SEMANTICS, default="interplay",
                   help="how samples are scored: ours, or the released reward's reading (numbers beside the paper's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    from interplay_verl.command import report

    return report("evaluate", lambda: {k: v for k, v in evaluate(
        model_path(args), args.rows, args.out, n_problems=args.n_problems, max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size, quiet=args.quiet, n_samples=args.n_samples, temperature=args.temperature,
        seed=args.seed, top_p=args.top_p, backend=args.backend,
        placement=placement(args), semantics=args.semantics).items() if k != "errors_by_op"}, (ValueError, OSError))


if __name__ == "__main__":
    sys.exit(main())
