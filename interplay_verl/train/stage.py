"""One lifecycle for every verl trainer stage (pre-training, mid-training, RL).

    finished? -> model check -> config check -> per-launch metrics file -> resume -> run
              -> Hugging Face export -> curves and plot -> manifest (written last = complete)

A stage directory holds

    <out>/checkpoints/global_step_N/   verl's checkpoints (the resume points)
    <out>/metrics/run-KK.jsonl         verl's per-step metrics, one file per launch (its file logger
                                       truncates the file it is given, and a resumed launch must not
                                       erase the steps before the kill)
    <out>/train-KK.log                 each launch's output
    <out>/hf/                          the final model as a Hugging Face directory
    <out>/loss.png, rl.png             the curves a reader looks at
    <out>/manifest.json                config, seed, versions, git hash, result; written last

Like every artifact directory of the project, a stage is complete exactly when its
``manifest.json`` exists: a rerun returns the recorded result without training, and a kill
at any point before it leaves a stage that the next launch resumes from its last checkpoint
(verl's ``resume_mode=auto``).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
from dataclasses import dataclass, field
from typing import Any, Optional
from collections.abc import Callable

from interplay_verl.atomic import PARTIAL_PREFIX
from interplay_verl.train import launch
from interplay_verl.train.launch import StageConfigError


@dataclass
class TrainerStage:
    """What differs between trainer stages; ``run`` does the rest, the same way for all of them."""

    name: str  # pretrain, midtrain, rl: log prefix and manifest kind
    out: str
    model: str  # the starting Hugging Face directory
    device: launch.Device
    command: Callable[[str], list[str]]  # metrics file path -> the trainer's command line
    check: Callable[[], Any] = lambda: None  # every cheap check, before anything starts
    hf_inside: str = "huggingface"  # where a checkpoint keeps its Hugging Face weights
    curves: tuple[str, ...] = ("train/loss",)  # metrics kept in the manifest and plotted
    plot: Optional[Callable[[dict, str], Any]] = None  # (curves, path) -> writes <out>/<plot_file>
    plot_file: str = "loss.png"
    config: dict = field(default_factory=dict)  # recorded in the manifest
    overrides: Callable[[], list[str]] = list  # recorded in the manifest; built only if the stage runs
    seed: Optional[int] = None
    extra_env: Optional[dict] = None
    timeout: Optional[float] = None


def finished(out: str) -> Optional[dict]:
    """A complete stage's recorded result, or None."""
    path = os.path.join(out, "manifest.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f).get("result")


def require_model(model: str) -> None:
    if not os.path.exists(os.path.join(model, "config.json")):
        raise StageConfigError(f"--model {model}: not a Hugging Face model directory (no config.json)")


def final_checkpoint(out: str) -> Optional[str]:
    """The checkpoint verl resumes from (its own lookup: the step its tracker file names, written
    after a save completes, not the newest directory, which a kill during a save leaves half-written)."""
    from verl.utils.checkpoint.checkpoint_manager import find_latest_ckpt_path

    return find_latest_ckpt_path(os.path.join(out, "checkpoints"))


def export_hf(out: str, inside: str = "huggingface") -> str:
    """Publish the last checkpoint's Hugging Face weights + tokenizer as ``<out>/hf`` (all or nothing)."""
    last = final_checkpoint(out)
    source = os.path.join(last, inside) if last else None
    if not source or not os.path.exists(os.path.join(source, "config.json")):
        raise launch.StageError(f"{out}: the trainer finished but left no Hugging Face checkpoint")
    target = os.path.join(out, "hf")
    tmp = os.path.join(out, PARTIAL_PREFIX + "hf")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target


def metric_curve(out: str, key: str = "train/loss") -> list[tuple[int, float]]:
    """(step, metric) over every launch of the stage, later launches replacing resumed steps."""
    curve: dict[int, float] = {}
    for path in sorted(glob.glob(os.path.join(out, "metrics", "run-*.jsonl"))):
        for record in launch.read_metrics(path):
            if key in record["data"]:
                curve[int(record["step"])] = float(record["data"][key])
    return sorted(curve.items())


def run(stage: TrainerStage) -> dict:
    from interplay_verl.manifest import write_manifest

    out = os.path.abspath(stage.out)
    done = finished(out)
    if done is not None:
        print(f"[{stage.name}] {out} is complete (remove its manifest.json to train again)", flush=True)
        return done
    require_model(stage.model)
    stage.check()
    os.makedirs(os.path.join(out, "metrics"), exist_ok=True)
    resumed_from = final_checkpoint(out)
    attempt = len(glob.glob(os.path.join(out, "metrics", "run-*.jsonl")))
    metrics = os.path.join(out, "metrics", f"run-{attempt:02d}.jsonl")
    print(f"[{stage.name}] {stage.model} -> {out}"
          + (f" (resuming from {os.path.basename(resumed_from)})" if resumed_from else ""), flush=True)
    launch.run_stage(stage.name, stage.command(metrics), stage.device, out, extra_env=stage.extra_env,
                     timeout=stage.timeout, metrics_name=os.path.relpath(metrics, out),
                     log_name=f"train-{attempt:02d}.log")
    hf = export_hf(out, stage.hf_inside)
    curves = {key: metric_curve(out, key) for key in stage.curves}
    if stage.plot is not None and any(curves.values()):
        stage.plot(curves, os.path.join(out, stage.plot_file))
    first = curves[stage.curves[0]]
    result = {"hf": hf, "steps": first[-1][0] if first else 0, "first": first[0][1] if first else None,
              "last": first[-1][1] if first else None, "metric": stage.curves[0], "launches": attempt + 1,
              "resumed_from": os.path.basename(resumed_from) if resumed_from else None}
    write_manifest(out, config=stage.config, seed=stage.seed, kind=stage.name, overrides=stage.overrides(),
                   result=result, curves=curves)
    return result
