"""``interplay-verl evaluate``: complete held-out prompts with a checkpoint and verify every completion.

Greedy by default; with ``--n-samples n --temperature t`` it samples n completions per problem
and reports unbiased pass@k (``interplay_verl.passk``) for k = 1, 2, 4, ... <= n, outcome and
process-verified, overall and by op.

The completions are scored by the same comparator as the RL reward
(``interplay_verl.rewards.composite``), so what evaluation reports is what RL optimised.
Responses are decoded as verl decodes them (``skip_special_tokens=True``). The answer
accuracy is reported beside the accuracy of always answering the most frequent gold answer of
the same prompts, the floor a model that ignores the question can reach.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections import Counter, defaultdict
from typing import Optional, Sequence

EVAL_COLUMNS = ["id", "prompt", "answer", "graph", "op", "context", "mode"]


def load_rows(rows: str, limit: Optional[int] = None) -> list[dict]:
    """Rows of a generation directory, in its fixed file order, keeping what evaluation needs."""
    import pyarrow.parquet as pq

    from interplay_verl.corpus import row_files

    out: list[dict] = []
    for path in row_files(rows):
        out.extend(pq.read_table(path, columns=EVAL_COLUMNS).to_pylist())
        if limit is not None and len(out) >= limit:
            return out[:limit]
    return out


def spread(rows: list[dict], n: int) -> list[dict]:
    """``n`` rows taken round-robin over (op, context, mode), so a small n still covers every op."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["op"], row["context"], row["mode"])].append(row)
    picked, queues = [], [groups[k] for k in sorted(groups)]
    while len(picked) < n and any(queues):
        for queue in queues:
            if queue and len(picked) < n:
                picked.append(queue.pop(0))
    return picked


@functools.lru_cache(maxsize=1)
def _load(model_dir: str):
    """Tokenizer and generator, loaded once for the rounds of sampling a filter or evaluation runs."""
    from transformers import AutoTokenizer

    from interplay_verl.backends.cpu.generation import HFGenerator

    return AutoTokenizer.from_pretrained(model_dir), HFGenerator.from_pretrained(model_dir)


def complete(model_dir: str, prompts: Sequence[str], max_new_tokens: int = 256, temperature: float = 0.0,
             batch_size: int = 64, quiet: bool = False, seed: int = 0) -> list[str]:
    """One completion per prompt, batched through the CPU rollout's generator (seeded when sampling)."""
    import torch
    from tqdm import tqdm

    from interplay_verl.backends.cpu.generation import SamplingParams

    tokenizer, generator = _load(model_dir)
    params = SamplingParams(temperature=temperature, max_tokens=max_new_tokens)
    encoded = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))  # similar lengths pad less
    texts: list[Optional[str]] = [None] * len(prompts)
    torch.manual_seed(seed)
    with tqdm(total=len(prompts), unit="prompt", desc="generate", disable=quiet) as progress:
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            for i, done in zip(chunk, generator.generate_batch([(encoded[i], params) for i in chunk])):
                texts[i] = tokenizer.decode(done.token_ids, skip_special_tokens=True)
            progress.update(len(chunk))
    return texts  # type: ignore[return-value]


def score(rows: list[dict], completions: list[str]) -> list[dict]:
    from interplay_verl.rewards.composite import compute_score

    return [compute_score(f"interplay/{r['context']}/op{r['op']}", text, r["answer"], {"graph": r["graph"]})
            for r, text in zip(rows, completions)]


def pass_at_k_table(rows: list[dict], scores: list[dict]) -> dict:
    """Unbiased pass@k on the ladder (SPEC section 7), outcome and process-verified, overall and by op.

    ``rows`` and ``scores`` hold one entry per sample; samples of a problem share its ``id``.
    """
    from interplay_verl.passk import ladder, mean_pass_at_k

    counts: dict[str, list] = {}
    for r, s in zip(rows, scores):
        entry = counts.setdefault(r["id"], [int(r["op"]), 0, 0, 0])
        entry[1] += 1
        entry[2] += int(s["outcome"] == 1.0)
        entry[3] += int(s["verified"] == 1.0)
    n = min(e[1] for e in counts.values())

    def table(entries: list) -> dict:
        return {kind: {k: round(mean_pass_at_k([(e[1], e[col]) for e in entries], k), 4) for k in ladder(n)}
                for kind, col in (("outcome", 2), ("verified", 3))}

    by_op: dict[int, list] = defaultdict(list)
    for e in counts.values():
        by_op[e[0]].append(e)
    return {"samples_per_problem": n, **table(list(counts.values())),
            "by_op": {op: table(entries) for op, entries in sorted(by_op.items())}}


def summarize(rows: list[dict], scores: list[dict]) -> dict:
    n = len({r["id"] for r in rows})
    majority, count = Counter(str(r["answer"]) for r in rows).most_common(1)[0] if rows else ("", 0)

    def mean(key: str, items: list[dict]) -> float:
        return round(sum(s[key] for s in items) / len(items), 4) if items else 0.0

    by_op: dict[int, list[dict]] = defaultdict(list)
    for r, s in zip(rows, scores):
        by_op[int(r["op"])].append(s)
    return {
        "problems": n,
        "well_formed": round(1 - mean("unparseable", scores), 4),
        "process_reward": mean("process", scores),
        "process_acc": mean("process_acc", scores),
        "answer_accuracy": mean("outcome", scores),
        "verified": mean("verified", scores),
        "majority_answer": majority,
        "majority_answer_accuracy": round(count / len(rows), 4) if rows else 0.0,
        "by_op": {op: {"problems": len(s), "answer_accuracy": mean("outcome", s), "verified": mean("verified", s),
                       "process_reward": mean("process", s), "well_formed": round(1 - mean("unparseable", s), 4)}
                  for op, s in sorted(by_op.items())},
        "pass_at_k": pass_at_k_table(rows, scores) if rows else {},
    }


def evaluate(model_dir: str, rows_dir: str, out: Optional[str] = None, n_problems: int = 500,
             max_new_tokens: int = 256, batch_size: int = 64, quiet: bool = False, n_samples: int = 1,
             temperature: float = 0.0, seed: int = 0) -> dict:
    from interplay_verl.atomic import atomic_write_parquet, atomic_write_text
    from interplay_verl.manifest import write_manifest

    start = time.time()
    if n_samples < 1 or (n_samples > 1 and temperature <= 0):
        raise ValueError(f"--n-samples {n_samples} --temperature {temperature}: several samples need temperature > 0")
    problems = spread(load_rows(rows_dir), n_problems)
    if not problems:
        raise ValueError(f"{rows_dir}: no rows to evaluate")
    rows = [r for r in problems for _ in range(n_samples)]
    completions = complete(model_dir, [r["prompt"] for r in rows], max_new_tokens, temperature, batch_size, quiet,
                           seed)
    scores = score(rows, completions)
    report = summarize(rows, scores)
    report["seconds"] = round(time.time() - start, 1)
    if out:
        import pyarrow as pa

        os.makedirs(out, exist_ok=True)
        table = pa.table({"id": [r["id"] for r in rows], "op": [r["op"] for r in rows],
                          "completion": completions, **{k: [s[k] for s in scores] for k in scores[0]}})
        atomic_write_parquet(table, os.path.join(out, "completions.parquet"))
        atomic_write_text(os.path.join(out, "report.json"), json.dumps(report, indent=2) + "\n")
        write_manifest(out, config={"model": os.path.abspath(model_dir), "rows": os.path.abspath(rows_dir),
                                    "n_problems": n_problems, "max_new_tokens": max_new_tokens,
                                    "n_samples": n_samples, "temperature": temperature,
                                    "decoding": "greedy" if temperature == 0 else "sampling"},
                       seed=seed, kind="evaluation", report=report)
    return report


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="interplay-verl evaluate", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help="Hugging Face model directory (a stage's hf/)")
    p.add_argument("--rows", required=True, help="held-out rows (`interplay-verl generate` output)")
    p.add_argument("--out", help="directory for report.json, completions.parquet, manifest.json")
    p.add_argument("--n-problems", type=int, default=500, help="problems, spread evenly over op/context/mode")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--n-samples", type=int, default=1, help="samples per problem (pass@k up to k = n; the paper: 128)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (the paper samples at 0.7)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    from interplay_verl.cli import report

    return report("evaluate", lambda: evaluate(args.model, args.rows, args.out, args.n_problems, args.max_new_tokens,
                                               args.batch_size, args.quiet, args.n_samples, args.temperature,
                                               args.seed), (ValueError, OSError))


if __name__ == "__main__":
    sys.exit(main())
