"""GRPO step cost on CPU beside pre-training: the tiny profile's RL work against the same model's SFT rate.

One invocation runs, on one 0.8m model (the tiny profile's size until 2026-11-30; it now uses 1.2m
and 8 rollouts, not re-measured here) and one data set:

1. ``interplay-verl rl`` with ``interplay_grpo_cpu`` (8 prompts x 4 rollouts, prompts up to 384
   and responses up to 192 tokens, the gated process reward, the online filter) on op 4-6 problems
   (the tiny profile's RL ops), once per arm: ``now`` (the CPU overrides as they are) and, with
   ``--before``, ``before`` (the CPU settings before docs/rl.md#grpo-speed-on-cpu's fixes put back
   as overrides), alternated;
2. ``interplay-verl pretrain`` on the same model (op 2-4 corpus, 16 blocks of 1024 tokens a step,
   benchmarks/pretrain.py's measurement).

It prints each RL arm's step breakdown (verl's ``timing_s/*``, medians over the steps after the
first) and its tokens per second (``perf/total_num_tokens`` over ``timing_s/step``: verl's
``perf/throughput`` divides by the training processes) as a share of the pre-training tokens/s,
and one JSON line.
The model is the random initialisation unless ``--model`` names a trained one: it never stops
early, so every response is ``max_response_length`` long and the token count is the same in each
arm. Peak memory is the summed PSS of the whole process tree of the last RL arm.

    python benchmarks/grpo_step.py [--steps 6] [--before] [--repeats 1] [--model HF_DIR] [key=value ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# The CPU RL settings before the fixes of docs/rl.md#grpo-speed-on-cpu (each found by a profile
# there): activation recomputation, bf16 actor, reference and rollout, one thread per Ray actor,
# the KV heads expanded at every decoding step, transformers' generate() instead of the lean Qwen2
# loop, micro-batches of 8, TransferQueue's 8 storage actors and a 0.2 s replay-buffer poll.
# Padded micro-batches, as now (the first line only states it). The request batcher's fix is code,
# so both arms have it.
BEFORE = [
    "actor_rollout_ref.model.use_remove_padding=False",
    "actor_rollout_ref.model.enable_gradient_checkpointing=True",
    "++actor_rollout_ref.actor.fsdp_config.mixed_precision.param_dtype=bf16",
    "++actor_rollout_ref.ref.fsdp_config.mixed_precision.param_dtype=bf16",
    "actor_rollout_ref.rollout.dtype=bfloat16",
    "~ray_kwargs.ray_init.runtime_env.env_vars.OMP_NUM_THREADS",
    "+ray_kwargs.ray_init.runtime_env.env_vars.INTERPLAY_CPU_SDPA_GQA='0'",
    "+ray_kwargs.ray_init.runtime_env.env_vars.INTERPLAY_CPU_LEAN_DECODE='0'",
    *(f"actor_rollout_ref.{k}_micro_batch_size_per_gpu=8" for k in ("actor.ppo", "rollout.log_prob", "ref.log_prob")),
    "transfer_queue.backend.SimpleStorage.num_data_storage_units=8",
    "interplay.poll_interval=0.2",
]
PHASES = ("gen", "old_log_prob", "ref", "adv", "update_actor", "update_weights", "edge", "step")


def tree_memory(root: psutil.Process) -> tuple[int, int, int]:
    """(sum PSS, sum RSS, process count) over ``root`` and its descendants."""
    try:
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return 0, 0, 0
    pss = rss = n = 0
    for p in procs:
        try:
            info = p.memory_full_info()
        except psutil.Error:
            continue
        pss += getattr(info, "pss", info.rss)
        rss += info.rss
        n += 1
    return pss, rss, n


class PeakSampler(threading.Thread):
    def __init__(self, pid: int, interval: float = 0.5):
        super().__init__(daemon=True)
        self.root, self.interval = psutil.Process(pid), interval
        self.peak_pss = self.peak_rss = self.peak_procs = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            pss, rss, n = tree_memory(self.root)
            self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)
            self.peak_procs = max(self.peak_procs, n)
            self.stop.wait(self.interval)


def rl_data(root: str, n: int = 64) -> str:
    """Op 4-6 problems of the tiny profile's RL context and mode, as verl's RL parquet."""
    from interplay_verl.data.rl import main as rl_data_main
    from interplay_verl.problems.generate import main as generate

    rows = os.path.join(root, "rl-rows")
    generate(["--ops", "4-6", "--per-op", str(n // 3 + 1), "--contexts", "zoo", "--modes", "forward",
              "--seed", "7", "--out", rows, "--quiet"])
    path = os.path.join(root, "rl.parquet")
    rl_data_main(["--rows", rows, "--out", path, "--limit", str(n)])
    return path


def rl_arm(model: str, train: str, out: str, steps: int, overrides: list[str]) -> tuple[list[dict], PeakSampler]:
    """verl's per-step metrics of one ``interplay-verl rl`` run (and its memory sampler)."""
    from interplay_verl.train import launch

    flags = [a for o in overrides if o.startswith("--") for a in o.split("=", 1)]  # e.g. --n-workers=2
    cmd = [sys.executable, "-m", "interplay_verl.cli", "rl", "--config-name", "interplay_grpo_cpu", "--model", model,
           "--train", train, "--out", out, *flags, f"trainer.total_training_steps={steps}", f"trainer.save_freq={steps}",
           *(o for o in overrides if not o.startswith("--"))]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sampler = PeakSampler(proc.pid)
    sampler.start()
    rc = proc.wait()
    sampler.stop.set()
    sampler.join()
    if rc != 0:
        raise SystemExit(f"GRPO run failed (exit {rc}); see {out}/train-00.log")
    metrics = os.path.join(out, "metrics", "run-00.jsonl")
    return [m["data"] for m in launch.read_metrics(metrics) if "timing_s/step" in m["data"]], sampler


def summary(steps: list[dict]) -> dict:
    """Medians over the steps after the first (start-up, compilation and warm caches)."""
    later = steps[1:] or steps
    out = {p: round(statistics.median(s.get(f"timing_s/{p}", 0.0) for s in later), 3) for p in PHASES}
    out["tokens"] = round(statistics.median(s["perf/total_num_tokens"] for s in later))
    # verl's perf/throughput is per training process; with --n-workers=2 the step's work is twice that
    out["throughput"] = round(statistics.median(s["perf/total_num_tokens"] / s["timing_s/step"] for s in later), 1)
    out["first_step_s"] = round(steps[0]["timing_s/step"], 2)
    out["rollout_probs_diff_max"] = round(max(s.get("training/rollout_probs_diff_max", 0.0) for s in steps), 4)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="GRPO steps per arm (the first is left out)")
    parser.add_argument("--before", action="store_true", help="also run the CPU settings before the fixes")
    parser.add_argument("--arm", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                        help="another RL arm: the CPU overrides as they are, plus these (repeatable; --flag=value "
                             "items are `interplay-verl rl` options, e.g. --n-workers=2)")
    parser.add_argument("--no-now", action="store_true", help="leave out the arm of the CPU overrides as they are")
    parser.add_argument("--repeats", type=int, default=1, help="runs per RL arm, alternated")
    parser.add_argument("--pretrain-steps", type=int, default=14)
    parser.add_argument("--model", default=None, help="HF model dir (default: the random 0.8m model)")
    parser.add_argument("--out", default=None, help="keep the runs here (default: a temporary directory)")
    parser.add_argument("overrides", nargs="*", help="extra verl overrides for every RL arm (key=value)")
    args = parser.parse_args(argv)
    os.environ.setdefault("VERL_PLATFORM", "cpu")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import pretrain as pretrain_bench

    root = args.out or tempfile.mkdtemp(prefix="bench-grpo-")
    corpus, model = pretrain_bench.prepare(root, 1024, 800_000)
    model = args.model or model
    train = rl_data(root)
    arms = {} if args.no_now else {"now": list(args.overrides)}
    if args.before:
        arms = {"before": BEFORE + list(args.overrides), **arms}
    for spec in args.arm:
        name, _, extra = spec.partition(":")
        arms[name] = list(args.overrides) + [o for o in extra.split(",") if o]
    runs: dict[str, list[dict]] = {a: [] for a in arms}
    sampler = None
    for r in range(args.repeats):
        for arm, overrides in arms.items():
            steps, sampler = rl_arm(model, train, os.path.join(root, f"rl-{arm}-{r}"), args.steps, overrides)
            runs[arm].append(summary(steps))
    stamps, tokens = pretrain_bench.verl_steps(corpus, model, os.path.join(root, "pretrain"), args.pretrain_steps,
                                               16, "fp32")
    pretrain_rate = pretrain_bench.rate(stamps, tokens, 3)

    width = 16
    cols = [f"{a}#{i}" for a in arms for i in range(args.repeats)]
    table = {c: runs[c.split("#")[0]][int(c.split("#")[1])] for c in cols}
    print(f"{'phase (s, median)':<{width}}" + "".join(f"{c:>12}" for c in cols))
    for key in (*PHASES, "tokens", "throughput", "first_step_s"):
        print(f"{key:<{width}}" + "".join(f"{table[c][key]:>12}" for c in cols))
    print(f"{'/ pretrain':<{width}}" + "".join(f"{table[c]['throughput'] / pretrain_rate:>12.3f}" for c in cols))
    print(f"pre-training (verl SFT, same model): {pretrain_rate:.0f} tokens/s")
    result = {
        "benchmark": "grpo_step",
        "pretrain_tok_s": round(pretrain_rate),
        "arms": {a: runs[a] for a in arms},
        "rl_over_pretrain": {a: round(statistics.median(r["throughput"] for r in runs[a]) / pretrain_rate, 3)
                             for a in arms},
        "peak_pss_gb": round(sampler.peak_pss / 2**30, 2),
        "peak_processes": sampler.peak_procs,
        "overrides": args.overrides,
        "model": args.model or "random 0.8m",
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
