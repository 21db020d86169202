"""Problem generator speed: ms per problem by op and mode on one core, tokens/s, scaling, memory.

    python benchmarks/generate.py                 # per-op timing table (+ core-hours for 10B tokens)
    python benchmarks/generate.py --scaling 40000 # also: 1 vs 2 workers through `interplay-verl generate`
    python benchmarks/generate.py --stream 1000000 # also: peak memory of a 1M-problem run

Tokens are estimated at 4 characters per token unless --tokenizer is given. The paper's own
generator is not run here; its times (measured earlier: 2-13 ms forward, 37-210 ms reverse at op
5-20, same machine class) are printed as a reference, not as a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

OPS = (2, 5, 8, 11, 14, 17, 20)
TARGET_MS = {"forward": 0.5, "reverse": 1.0}  # targets at op 20


def time_rows(op: int, mode: str, n: int, count_tokens) -> tuple[float, float]:
    from interplay_verl.problems.contexts import load_context
    from interplay_verl.problems.rows import generate_row

    ctx = load_context("zoo")
    start = time.perf_counter()
    rows = [generate_row(op, mode, ctx, seed=0, index=i) for i in range(n)]
    seconds = time.perf_counter() - start
    tokens = sum(count_tokens(r["text"]) for r in rows)
    return 1000 * seconds / n, tokens / n


def run_generate(out: str, per_op: int, workers: int) -> float:
    cmd = [sys.executable, "-m", "interplay_verl.cli", "generate", "--ops", "2-20", "--per-op", str(per_op),
           "--modes", "forward,reverse", "--contexts", "zoo,school,festival", "--out", out, "--workers",
           str(workers), "--quiet", "--shard-size", "5000"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="problems per (op, mode) cell")
    parser.add_argument("--tokenizer", help="HF tokenizer dir for exact token counts")
    parser.add_argument("--scaling", type=int, default=0, help="problems for the 1-vs-2-worker comparison")
    parser.add_argument("--stream", type=int, default=0, help="problems for the streaming-memory run")
    args = parser.parse_args(argv)

    count_tokens = lambda text: len(text) / 4 + 1  # noqa: E731
    if args.tokenizer:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(args.tokenizer)
        count_tokens = lambda text: len(tok(text, add_special_tokens=False)["input_ids"]) + 1  # noqa: E731

    result: dict = {"benchmark": "generate", "n_per_cell": args.n, "ms": {}, "tokens_per_problem": {}}
    print(f"{'op':>4}{'forward ms':>12}{'reverse ms':>12}{'fwd tok/s':>12}{'rev tok/s':>12}")
    for op in OPS:
        row = []
        for mode in ("forward", "reverse"):
            ms, toks = time_rows(op, mode, args.n, count_tokens)
            result["ms"][f"{mode}_op{op}"] = round(ms, 4)
            result["tokens_per_problem"][f"{mode}_op{op}"] = round(toks, 1)
            row.append((ms, toks))
        print(f"{op:>4}{row[0][0]:>12.3f}{row[1][0]:>12.3f}{1000 * row[0][1] / row[0][0]:>12.0f}"
              f"{1000 * row[1][1] / row[1][0]:>12.0f}")

    # 10B tokens of op 2-10 (uniform, forward), one core
    id_ops = range(2, 11)
    cells = [time_rows(op, "forward", max(200, args.n // 4), count_tokens) for op in id_ops]
    ms_per_token = sum(ms for ms, _ in cells) / sum(t for _, t in cells)
    result["core_hours_10B_tokens_op2_10"] = round(10e9 * ms_per_token / 3.6e6, 1)
    for mode in ("forward", "reverse"):
        result[f"{mode}_op20_vs_target"] = round(result["ms"][f"{mode}_op20"] / TARGET_MS[mode], 3)
    print(f"10B tokens of op 2-10 on one core: {result['core_hours_10B_tokens_op2_10']} core-hours")
    print(f"op 20 vs target: forward {result['forward_op20_vs_target']}x of {TARGET_MS['forward']} ms, "
          f"reverse {result['reverse_op20_vs_target']}x of {TARGET_MS['reverse']} ms (<= 1 meets it)")
    print("reference, not measured here: the paper's generator takes 2-13 ms forward, 37-210 ms reverse (op 5-20)")

    if args.scaling:
        per_op = max(1, args.scaling // (19 * 2))
        with tempfile.TemporaryDirectory() as tmp:
            one = run_generate(os.path.join(tmp, "w1"), per_op, 1)
            two = run_generate(os.path.join(tmp, "w2"), per_op, 2)
        result["scaling"] = {"problems": per_op * 38, "one_worker_s": round(one, 2), "two_workers_s": round(two, 2),
                             "speedup": round(one / two, 2)}
        print(f"workers: 1 -> {one:.1f} s, 2 -> {two:.1f} s, speedup {one / two:.2f}x")

    if args.stream:
        per_op = max(1, args.stream // (19 * 2))
        with tempfile.TemporaryDirectory() as tmp:
            seconds = run_generate(os.path.join(tmp, "stream"), per_op, 1)
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        result["stream"] = {"problems": per_op * 38, "seconds": round(seconds, 1), "peak_rss_mb": round(peak_mb, 1)}
        print(f"streaming {per_op * 38} problems: {seconds:.0f} s, peak RSS {peak_mb:.0f} MB")

    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
