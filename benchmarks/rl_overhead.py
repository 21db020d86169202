"""What the process reward and the online filter cost per GRPO step, on the CPU tiny profile.

Two kinds of run of ``interplay-verl rl`` (verl main_ppo, the interplay_edge trainer, our CPU
rollout), alternated so slow drift of this noisy machine hits both alike:

- **ours**: the gated process reward (``interplay_verl.rewards.composite``) and the online
  filter skipping prompts;
- **base**: a constant reward (``benchmarks/assets/constant_reward.py``) and the filter off.

The actor's learning rate is 0 in both, so both sample from the same fixed policy and their
rollouts differ only by chance, not by what each reward taught. The pool is small (32 prompts,
4 steps of 8), so from step 5 on the filter skips what it has seen leave the band; with a model
that solves some problems (``--model``, e.g. the pre-training stage's ``hf/``) it has both
kinds to skip. Step 1 (warm-up) is left out. Reported: median
seconds per step, and the ratio ours / base (the target: <= 1.05).

    python benchmarks/rl_overhead.py [--pairs 2] [--steps 10] [--model DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

CONSTANT = os.path.join(ROOT, "benchmarks", "assets", "constant_reward.py")


def prepare(root: str, model: str | None, problems: int) -> tuple[str, str]:
    from interplay_verl.data.rl import write_rl_parquet
    from interplay_verl.data.rows import load_rows, spread
    from interplay_verl.testing.assets import build_tiny_model
    from interplay_verl.problems.generate import main as generate_main

    if model is None:
        model = build_tiny_model(os.path.join(root, "tiny"), seed=0)
    rows = os.path.join(root, "rows")
    generate_main(["--ops", "2-4", "--tokens", str(problems * 400), "--seed", "7", "--out", rows, "--quiet"])
    return model, write_rl_parquet(spread(load_rows(rows), problems), os.path.join(root, "train.parquet"))


def one_run(kind: str, model: str, train: str, out: str, steps: int) -> dict:
    from interplay_verl.train import rl
    from interplay_verl.train.launch import read_metrics

    extra = [f"trainer.total_training_steps={steps}", "actor_rollout_ref.actor.optim.lr=0",
             "data.max_response_length=64", "trainer.save_freq=-1"]
    if kind == "base":
        extra += [f"reward.custom_reward_function.path={CONSTANT}", "interplay.online_filter.enable=false"]
    overrides = rl.rl_overrides(model, train, train, out, extra=extra)
    filled = []  # the config's "auto" micro-batch sizes, chosen as `interplay-verl rl` chooses them
    rl.check_config("interplay_grpo_cpu", overrides, "cpu", filled=filled)
    start = time.time()
    rl.launch.run_stage("RL", rl.config_command("interplay_grpo_cpu", [*overrides, *filled], "cpu"),
                        "cpu", out, timeout=1800)
    logged = {m["step"]: m["data"] for m in read_metrics(os.path.join(out, "metrics.jsonl"))}
    later = [logged[s] for s in sorted(logged) if s > 1]
    return {"kind": kind, "wall_s": round(time.time() - start, 1),
            "step_s": round(statistics.median(d["timing_s/step"] for d in later), 3),
            "gen_s": round(statistics.median(d["timing_s/gen"] for d in later), 3),
            "edge_s": round(statistics.median(d.get("timing_s/edge", 0.0) for d in later), 4),
            "skipped": sum(d.get("edge/skipped_prompts", 0) for d in later)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2, help="base/ours pairs, alternated")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--problems", type=int, default=32, help="RL pool size (small: the filter gets to skip)")
    parser.add_argument("--model", help="HF model directory (default: a fresh tiny model)")
    parser.add_argument("--out", help="working directory (default: a temporary one)")
    args = parser.parse_args(argv)
    root = args.out or tempfile.mkdtemp(prefix="rl_overhead-")
    model, train = prepare(root, args.model, args.problems)
    runs = []
    for pair in range(args.pairs):
        for kind in ("base", "ours"):
            runs.append(one_run(kind, model, train, os.path.join(root, f"{kind}-{pair}"), args.steps))
            print(json.dumps(runs[-1]), flush=True)
    base = statistics.median(r["step_s"] for r in runs if r["kind"] == "base")
    ours = statistics.median(r["step_s"] for r in runs if r["kind"] == "ours")
    print(f"\n{'run':<8} {'s/step (median)':>16} {'gen s':>8} {'edge s':>8} {'skipped':>8}")
    for r in runs:
        print(f"{r['kind']:<8} {r['step_s']:>16.3f} {r['gen_s']:>8.3f} {r['edge_s']:>8.4f} {r['skipped']:>8}")
    print(f"ours / base = {ours / base:.3f}")
    print(json.dumps({"benchmark": "rl_overhead", "steps": args.steps, "pairs": args.pairs, "base_step_s": base,
                      "ours_step_s": ours, "ratio": round(ours / base, 4), "runs": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
