"""Tiny GRPO run through verl's main_ppo on CPU: step time and peak memory of ALL its processes.

A verl run is 30-45 processes (driver, Ray's GCS and raylet, workers, rollout server, reward
workers, TransferQueue); one process's RSS says little. This samples the whole process tree
every 0.5 s and records the peak of the summed PSS (shared pages counted once, split
between sharers) and of the summed RSS (an upper bound). Prints a table and one JSON line.

    python benchmarks/grpo_step.py [--steps 5] [--model HF_DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import psutil


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--model", default=None, help="HF model dir (default: build the tiny model)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    from interplay_verl.testing.assets import build_tiny_model, write_toy_rl_parquet
    from interplay_verl.testing.overrides import tiny_grpo_overrides
    from interplay_verl.train import launch

    out = args.out or tempfile.mkdtemp(prefix="bench-grpo-")
    model = args.model or build_tiny_model(os.path.join(out, "tiny"))
    train = write_toy_rl_parquet(os.path.join(out, "train.parquet"), 64, seed=3)
    val = write_toy_rl_parquet(os.path.join(out, "val.parquet"), 8, seed=4)
    metrics = os.path.join(out, "metrics.jsonl")
    cmd = launch.ppo_command(tiny_grpo_overrides(model, train, val, os.path.join(out, "run"), args.steps), "cpu")
    env = launch.prepare("cpu", {"VERL_FILE_LOGGER_PATH": metrics})

    start = time.time()
    with open(os.path.join(out, "train.log"), "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        sampler = PeakSampler(proc.pid)
        sampler.start()
        rc = proc.wait()
        sampler.stop.set()
        sampler.join()
    wall = time.time() - start
    if rc != 0:
        print(f"GRPO run failed (exit {rc}); see {out}/train.log", file=sys.stderr)
        return rc

    steps = [m["data"] for m in launch.read_metrics(metrics) if "timing_s/step" in m["data"]]
    step_s = [s["timing_s/step"] for s in steps]
    later = step_s[1:] or step_s
    result = {
        "benchmark": "grpo_step",
        "steps": len(step_s),
        "first_step_s": round(step_s[0], 2),
        "later_step_s_mean": round(sum(later) / len(later), 2),
        "gen_s_mean": round(sum(s["timing_s/gen"] for s in steps[1:] or steps) / len(later), 2),
        "wall_s": round(wall, 1),
        "peak_pss_gb": round(sampler.peak_pss / 2**30, 2),
        "peak_rss_sum_gb": round(sampler.peak_rss / 2**30, 2),
        "peak_processes": sampler.peak_procs,
        "rollout_probs_diff_max": round(max(s["training/rollout_probs_diff_max"] for s in steps), 4),
    }
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
