"""Batched CPU rollout vs one request at a time, through the server's own batching path.

8 prompts x 8 samples (64 concurrent requests, as GRPO's agent loop sends them) on the tiny
model. Both arms use the same ``HFGenerator`` and ``RequestBatcher``; the baseline caps the
batch at 1, which is what a server without batching does. Prints a table and one JSON line.

    python benchmarks/rollout_cpu.py [--prompts 8] [--samples 8] [--max-tokens 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time

import torch


def run_arm(generator, prompts, samples: int, params, max_batch: int) -> tuple[float, int]:
    from interplay_verl.backends.cpu.generation import RequestBatcher

    async def main():
        batcher = RequestBatcher(generator.generate_batch, max_batch_size=max_batch)
        start = time.perf_counter()
        outs = await asyncio.gather(*[batcher.submit((p, params)) for p in prompts for _ in range(samples)])
        return time.perf_counter() - start, sum(len(o.token_ids) for o in outs)

    return asyncio.run(main())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="best of N per arm (machines here are noisy)")
    parser.add_argument("--model", default=None, help="HF model dir (default: build the tiny model)")
    args = parser.parse_args(argv)

    from transformers import AutoTokenizer

    from interplay_verl.testing.assets import build_tiny_model, split_document, toy_documents
    from interplay_verl.backends.cpu.generation import HFGenerator, SamplingParams

    model_dir = args.model or build_tiny_model(tempfile.mkdtemp(prefix="bench-tiny-"))
    tok = AutoTokenizer.from_pretrained(model_dir)
    generator = HFGenerator.from_pretrained(model_dir)
    prompts = [tok(split_document(d)[0], add_special_tokens=False)["input_ids"] for d in toy_documents(args.prompts, seed=11)]
    # ignore_eos: both arms generate exactly max_tokens, so throughput compares like with like
    params = SamplingParams(temperature=1.0, max_tokens=args.max_tokens, logprobs=True, ignore_eos=True)

    results = {}
    for name, max_batch in (("one_at_a_time", 1), ("batched", args.prompts * args.samples)):
        best = None
        for r in range(args.repeats):
            torch.manual_seed(r)
            seconds, tokens = run_arm(generator, prompts, args.samples, params, max_batch)
            if best is None or seconds < best[0]:
                best = (seconds, tokens)
        results[name] = {"seconds": round(best[0], 3), "tokens": best[1], "tokens_per_s": round(best[1] / best[0], 1)}

    speedup = results["batched"]["tokens_per_s"] / results["one_at_a_time"]["tokens_per_s"]
    print(f"{'arm':<16}{'seconds':>10}{'tokens':>10}{'tok/s':>12}")
    for name, r in results.items():
        print(f"{name:<16}{r['seconds']:>10.3f}{r['tokens']:>10}{r['tokens_per_s']:>12.1f}")
    print(f"speedup (batched / one at a time): {speedup:.1f}x")
    print(json.dumps({
        "benchmark": "rollout_cpu", "prompts": args.prompts, "samples": args.samples, "max_tokens": args.max_tokens,
        "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(), **results, "speedup": round(speedup, 2),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
