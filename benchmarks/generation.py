"""Sampling a checkpoint through a standalone verl rollout replica vs the in-process generator.

The same work in both arms: ``--prompts`` problems of the RL candidates' kind, ``--samples``
samples each at temperature 1.0, at most ``--max-tokens`` new tokens, through
``interplay_verl.sampling`` (the filter's and evaluation's path). ``hf`` is one in-process
transformers generator (the baseline); ``replicas`` is verl's ``cpu`` rollout replica started
standalone on a local Ray (its server batches the concurrent requests). Throughput counts
generated tokens (re-tokenised completions) per second of sampling; the replicas' start-up
(Ray, the replica's worker and server) is reported apart, since a stage pays it once. Best of
``--repeats``; prints a table and one JSON line.

    python benchmarks/generation.py [--prompts 16] [--samples 8] [--max-tokens 64] [--repeats 2] [--replicas 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time


def timed(sampler, prompts, args, tokenizer) -> tuple[float, int]:
    start = time.perf_counter()
    groups = sampler.sample(prompts, args.samples, max_new_tokens=args.max_tokens, temperature=1.0, seed=1, quiet=True)
    seconds = time.perf_counter() - start
    tokens = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for g in groups for t in g)
    return seconds, tokens


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="best of N per arm (machines here are noisy)")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--model", default=None, help="HF model dir (default: a random 0.8m model)")
    args = parser.parse_args(argv)
    os.environ.setdefault("VERL_PLATFORM", "cpu")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from transformers import AutoTokenizer

    from interplay_verl.models import init_model
    from interplay_verl.problems.contexts import load_context
    from interplay_verl.problems.rows import generate_row
    from interplay_verl.sampling import sampler
    from interplay_verl.testing.assets import toy_documents
    from interplay_verl.tokenizer import train_tokenizer

    model_dir = args.model
    if model_dir is None:
        work = tempfile.mkdtemp(prefix="bench-gen-")
        ctx = load_context("zoo")
        texts = [generate_row(op, "forward", ctx, seed=3, index=i)["text"] for op in (2, 3, 4) for i in range(60)]
        train_tokenizer(texts + toy_documents(50), os.path.join(work, "tok"), vocab_size=2200)
        model_dir = init_model(os.path.join(work, "tok"), os.path.join(work, "model"), size="0.8m", seed=0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ctx = load_context("zoo")
    prompts = [generate_row(4, "forward", ctx, seed=5, index=i)["prompt"] for i in range(args.prompts)]

    results = {}
    for arm in ("hf", "replicas"):
        start = time.perf_counter()
        model_sampler = sampler(model_dir, arm, batch_size=args.prompts * args.samples, device="cpu",
                                n_replicas=args.replicas)
        if arm == "replicas":
            model_sampler.start()
        startup = time.perf_counter() - start
        try:
            best = None
            for _ in range(args.repeats):
                seconds, tokens = timed(model_sampler, prompts, args, tokenizer)
                if best is None or tokens / seconds > best[1] / best[0]:
                    best = (seconds, tokens)
        finally:
            model_sampler.close()
        results[arm] = {"seconds": round(best[0], 2), "tokens": best[1], "tokens_per_s": round(best[1] / best[0], 1),
                        "startup_s": round(startup, 1)}
    ratio = results["replicas"]["tokens_per_s"] / results["hf"]["tokens_per_s"]
    print(f"{'arm':<10} {'seconds':>8} {'tokens':>7} {'tokens/s':>9} {'start-up s':>10}")
    for arm, r in results.items():
        print(f"{arm:<10} {r['seconds']:>8} {r['tokens']:>7} {r['tokens_per_s']:>9} {r['startup_s']:>10}")
    print(f"replicas / in-process tokens/s: {ratio:.2f}x ({args.replicas} replica(s))")
    print(json.dumps({"benchmark": "generation", "prompts": args.prompts, "samples": args.samples,
                      "max_tokens": args.max_tokens, "replicas": args.replicas, "arms": results,
                      "ratio_replicas_vs_hf": round(ratio, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
