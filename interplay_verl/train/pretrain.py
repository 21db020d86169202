"""``interplay-verl pretrain`` / ``midtrain``: a packed corpus through verl's FSDP SFT trainer.

Both stages are the same machinery with different configs (docs/method.md#10-models-tokenizer-and-training-settings): pre-training
starts from a randomly initialised model, mid-training from the pre-trained export with its
own schedule and the mid-training mixture's corpus. A stage writes checkpoints, per-launch metrics, ``hf/``, ``loss.png`` and the manifest, with the lifecycle of
every trainer stage (``train/stage.py``): a rerun after a kill resumes from the newest
checkpoint, a rerun of a finished stage does nothing. The config is checked against verl's
own Hydra schema before torchrun starts, so a typo fails in seconds with the key.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
from typing import Any, Optional
from collections.abc import Sequence

from interplay_verl.train import launch, stage
from interplay_verl.train.launch import StageConfigError, check_overrides

STAGES = ("pretrain", "midtrain")
CONFIG_KEYS = {"stage", "description", "device", "nproc", "seed", "verl"}


def load_config(path: str) -> dict[str, Any]:
    import yaml

    if not os.path.exists(path):
        raise StageConfigError(f"{path}: no such config (see recipes/configs/ for the shipped ones)")
    with open(path) as f:
        cfg = yaml.safe_load(f) or {}
    if not isinstance(cfg, dict):
        raise StageConfigError(f"{path}: must be a mapping with keys {sorted(CONFIG_KEYS)}")
    unknown = set(cfg) - CONFIG_KEYS
    if unknown:
        raise StageConfigError(f"{path}: unknown key(s) {sorted(unknown)}; allowed: {sorted(CONFIG_KEYS)}. "
                               "verl settings go under `verl:` as dotted keys, e.g. `optim.lr: 2e-4`")
    if cfg.get("stage") not in STAGES:
        raise StageConfigError(f"{path}: stage={cfg.get('stage')!r}; set `stage:` to one of {', '.join(STAGES)}")
    if cfg.get("device", "cpu") not in ("cpu", "gpu"):
        raise StageConfigError(f"{path}: device={cfg['device']!r}; use cpu or gpu")
    verl_cfg = cfg.get("verl") or {}
    if not isinstance(verl_cfg, dict):
        raise StageConfigError(f"{path}: `verl:` must map dotted verl keys to values (e.g. `optim.lr: 2e-4`)")
    for key in ("data.train_batch_size", "data.micro_batch_size_per_gpu", "trainer.total_training_steps",
                "trainer.save_freq"):
        value = verl_cfg.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise StageConfigError(f"{path}: verl.{key}={value!r}; must be an integer")
    cfg["verl"] = verl_cfg
    return cfg


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_value(x) for x in v) + "]"
    return "null" if v is None else str(v)


def corpus_block_size(corpus: str) -> int:
    path = os.path.join(corpus, "manifest.json")
    if not os.path.exists(path):
        raise StageConfigError(f"--corpus {corpus}: no manifest.json (build it with `interplay-verl corpus`)")
    with open(path) as f:
        return int(json.load(f)["config"]["block_size"])


def check_corpus_tokenizer(corpus: str, model: str) -> None:
    """The corpus was tokenized with the model's vocabulary: a corpus built with another tokenizer (ours,
    say, for a released checkpoint) would train on the wrong token ids without any error."""
    from interplay_verl.tokenizer import load_tokenizer

    corpus_block_size(corpus)  # the corpus is one (it has a manifest)
    with open(os.path.join(corpus, "manifest.json")) as f:
        tokenizer_dir = json.load(f)["config"].get("tokenizer")
    if not tokenizer_dir or not os.path.isdir(tokenizer_dir):
        return  # recorded elsewhere, or moved: nothing to compare against
    if load_tokenizer(tokenizer_dir).get_vocab() != load_tokenizer(model).get_vocab():
        raise StageConfigError(f"--corpus {corpus} was tokenized with {tokenizer_dir}, whose vocabulary is not the "
                               f"model's ({model}): rebuild it with `interplay-verl corpus --tokenizer {model}`")


def stage_overrides(cfg: dict, corpus: str, model: str, out: str, val_corpus: Optional[str] = None,
                    extra: Sequence[str] = (), block: Optional[int] = None) -> list[str]:
    """verl ``sft_trainer`` overrides for one stage; the config's ``verl:`` entries and ``extra`` win.

    ``block``: the corpus's block size, read from its manifest unless given (a configuration
    check composes the overrides before any corpus exists)."""
    from interplay_verl.tokenizer import verl_tokenizer_path

    block = block or corpus_block_size(corpus)
    base = {
        "data.train_files": os.path.abspath(corpus),
        "data.val_files": os.path.abspath(val_corpus) if val_corpus else None,
        "data.custom_cls.path": "pkg://interplay_verl.data.packed",
        "data.custom_cls.name": "PackedCorpusDataset",
        "data.max_length": block,
        "data.use_dynamic_bsz": False,
        # no attention mask, positions restart per document: attention stays inside documents
        "model.use_remove_padding": True,
        "model.path": os.path.abspath(model),
        # a released checkpoint's tokenizer, loaded as saved by verl's workers (and so re-saved as it was)
        "model.tokenizer_path": verl_tokenizer_path(model, out),
        "trainer.default_local_dir": os.path.join(os.path.abspath(out), "checkpoints"),
        "trainer.resume_mode": "auto",
        "trainer.total_epochs": 1000,  # the run is bounded by total_training_steps
        "trainer.logger": ["console", "file"],
        "trainer.project_name": "interplay",
        "trainer.experiment_name": cfg["stage"],
        "trainer.seed": cfg.get("seed", 1),
        "checkpoint.save_contents": ["model", "optimizer", "extra", "hf_model"],
    }
    base.update(cfg["verl"])
    return [f"{k}={_value(v)}" for k, v in base.items()] + list(extra)


def run(cfg: dict, corpus: str, model: str, out: str, val_corpus: Optional[str] = None,
        extra: Sequence[str] = (), config_path: Optional[str] = None, launcher: str = "torchrun") -> dict:
    """Train ``model`` on ``corpus`` into ``out`` (the lifecycle of ``train/stage.py``).

    ``launcher``: ``torchrun`` on one machine, ``ray`` on a Ray cluster (``launch.sft_command``)."""
    from interplay_verl import plots

    device, nproc = cfg.get("device", "cpu"), int(cfg.get("nproc", 1))
    name = cfg["stage"]

    @functools.cache  # built once, and only if the stage runs (it reads the corpus's manifest)
    def overrides() -> list[str]:
        return stage_overrides(cfg, corpus, model, out, val_corpus, extra)

    # torchrun ranks are not Ray actors: inside a Ray job (RAY_ADDRESS and Ray's
    # RAY_EXPERIMENTAL_NOSET_*_VISIBLE_DEVICES set) verl's worker would look up Ray accelerator ids
    not_ray = {} if launcher == "ray" else {
        k: None for k in os.environ if k == "RAY_ADDRESS" or k.startswith("RAY_EXPERIMENTAL_NOSET_")}
    return stage.run(stage.TrainerStage(
        name=name, out=out, model=model, device=device,
        command=lambda metrics: launch.sft_command(overrides(), device, nproc, launcher),
        check=lambda: (check_corpus_tokenizer(corpus, model),
                       launch.check_saves(check_overrides(launch.sft_overrides(overrides(), device, nproc)), name)),
        plot=lambda curves, path: plots.training_loss(curves["train/loss"], path,
                                                      f"{name}: {cfg.get('description', '')}"),
        config={**cfg, "config_path": config_path, "launcher": launcher, "corpus": os.path.abspath(corpus), "model": os.path.abspath(model),
                "extra_overrides": list(extra)},
        overrides=overrides,
        seed=cfg.get("seed", 1), extra_env=not_ray))


def main(argv: Optional[list[str]] = None, stage: str = "pretrain") -> int:
    from interplay_verl.models import ModelNotFound, add_model_arguments, model_path

    p = argparse.ArgumentParser(
        prog=f"interplay-verl {stage}", description=__doc__.splitlines()[0],
        epilog="Extra arguments are verl sft_trainer overrides, e.g. trainer.total_training_steps=20.")
    p.add_argument("--config", required=True, help=f"stage config, e.g. recipes/configs/{stage}_cpu.yaml")
    p.add_argument("--corpus", required=True, help="packed corpus directory (`interplay-verl corpus`)")
    add_model_arguments(p, "starting model: `interplay-verl init-model` output for pretrain, the pretrain stage's "
                           "hf/ for midtrain")
    p.add_argument("--out", required=True, help="stage directory (checkpoints, metrics, hf/, manifest)")
    p.add_argument("--val-corpus", help="packed corpus for validation loss")
    p.add_argument("--device", choices=["cpu", "gpu"], help="overrides the config's device")
    p.add_argument("--nproc", type=int, help="training processes (GPUs per node); overrides the config")
    args, extra = p.parse_known_args(argv)
    bad = launch.not_overrides(extra)
    if bad:
        p.error(f"unrecognised arguments {bad}; verl overrides look like key=value (or ~key)")

    def work() -> dict:
        cfg = load_config(args.config)
        if cfg["stage"] != stage:
            raise StageConfigError(f"{args.config} is a {cfg['stage']} config; use `interplay-verl {cfg['stage']}`")
        if args.device:
            cfg["device"] = args.device
        if args.nproc:
            cfg["nproc"] = args.nproc
        return run(cfg, args.corpus, model_path(args), args.out, args.val_corpus, extra, args.config)

    from interplay_verl.command import report

    return report(stage, work, (StageConfigError, launch.StageError, ModelNotFound))


def main_midtrain(argv: Optional[list[str]] = None) -> int:
    return main(argv, stage="midtrain")
