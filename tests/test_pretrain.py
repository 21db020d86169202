"""Pre-training and mid-training stages through verl's FSDP SFT trainer, on CPU, with the tiny model."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from PIL import Image
from transformers import AutoModelForCausalLM, AutoTokenizer

from interplay_verl.corpus import build
from interplay_verl.problems.generate import main as generate_main
from interplay_verl.train.launch import StageConfigError, check_overrides, hydra_run_dir
from interplay_verl.train.pretrain import load_config
from interplay_verl.train.stage import metric_curve as loss_curve
from interplay_verl.train.pretrain import main as pretrain_main

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes", "configs")
FAST = ["data.train_batch_size=4", "data.micro_batch_size_per_gpu=2", "optim.lr=3e-3",
        "optim.lr_warmup_steps_ratio=0.0"]


@pytest.fixture(scope="module")
def corpora(tmp_path_factory, tiny_model):
    """Pre-training corpus on op 2-4 and a mid-training corpus (op 2-4 + 5-6), tokenized with the tiny model's tokenizer."""
    root = tmp_path_factory.mktemp("stages")
    out = {}
    for name, ops in (("pre", "2-4"), ("cpt", "cpt0.5-uniform_0.5-5-6")):
        rows = str(root / f"rows_{name}")
        ops_arg = ops if name == "pre" else "2:0.1,3:0.1,4:0.1,5:0.35,6:0.35"
        assert generate_main(["--ops", ops_arg, "--tokens", "150000", "--seed", "5", "--out", rows, "--quiet"]) == 0
        out[name] = str(root / f"corpus_{name}")
        build(rows, tiny_model, out[name], block_size=1024, quiet=True)
    return root, out


@pytest.mark.slow  # verl SFT runs
def test_pretrain_then_midtrain_learn_and_export(corpora, tiny_model):
    root, corpus = corpora
    pre, mid = str(root / "pretrain"), str(root / "midtrain")
    args = ["--config", os.path.join(CONFIGS, "pretrain_cpu.yaml"), "--corpus", corpus["pre"], "--model", tiny_model,
            "--out", pre, "trainer.total_training_steps=12", "trainer.save_freq=6", *FAST]
    assert pretrain_main(args) == 0
    assert pretrain_main(["--config", os.path.join(CONFIGS, "midtrain_cpu.yaml"), "--corpus", corpus["cpt"],
                          "--model", os.path.join(pre, "hf"), "--out", mid, "trainer.total_training_steps=8",
                          "trainer.save_freq=8", *FAST], stage="midtrain") == 0

    for stage, steps, factor in ((pre, 12, 0.9), (mid, 8, 0.97)):  # mid-training starts from a trained model
        curve = loss_curve(stage)
        assert [s for s, _ in curve] == list(range(1, steps + 1))
        losses = [v for _, v in curve]
        assert sum(losses[-3:]) < factor * sum(losses[:3]), curve
        with open(os.path.join(stage, "manifest.json")) as f:
            manifest = json.load(f)
        assert manifest["result"]["steps"] == steps and manifest["git"] is not None
        with Image.open(os.path.join(stage, "loss.png")) as png:  # the loss plot beside the manifest
            assert png.format == "PNG" and png.size == (720, 420)

        hf = os.path.join(stage, "hf")
        model = AutoModelForCausalLM.from_pretrained(hf)
        tok = AutoTokenizer.from_pretrained(hf)
        ids = tok("<question> The number of adult owl in Mill Pond Zoo equals 3.", return_tensors="pt",
                  add_special_tokens=False)
        gen = model.generate(**ids, max_new_tokens=6, do_sample=False, pad_token_id=tok.pad_token_id)
        assert gen.shape[1] > ids["input_ids"].shape[1]

    # mid-training started from the pre-trained weights, not from the random init
    pre_w = AutoModelForCausalLM.from_pretrained(os.path.join(pre, "hf")).model.embed_tokens.weight
    mid_w = AutoModelForCausalLM.from_pretrained(os.path.join(mid, "hf")).model.embed_tokens.weight
    init_w = AutoModelForCausalLM.from_pretrained(tiny_model).model.embed_tokens.weight
    assert (mid_w - pre_w).abs().mean() < (mid_w - init_w).abs().mean()
    # a finished stage is not trained again: no second launch, the manifest untouched
    before = os.stat(os.path.join(pre, "manifest.json")).st_mtime_ns
    assert pretrain_main(args) == 0 and len(loss_curve(pre)) == 12
    assert not os.path.exists(os.path.join(pre, "metrics", "run-01.jsonl"))
    assert os.stat(os.path.join(pre, "manifest.json")).st_mtime_ns == before


@pytest.mark.slow  # verl SFT runs
def test_kill_9_during_pretraining_resumes_from_last_checkpoint(corpora, tiny_model):
    root, corpus = corpora
    out = str(root / "killed")
    cmd = [sys.executable, "-m", "interplay_verl.cli", "pretrain", "--config", os.path.join(CONFIGS, "pretrain_cpu.yaml"),
           "--corpus", corpus["pre"], "--model", tiny_model, "--out", out, "trainer.total_training_steps=30",
           "trainer.save_freq=3", *FAST]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tracker = os.path.join(out, "checkpoints", "latest_checkpointed_iteration.txt")
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if os.path.exists(tracker) and open(tracker).read().strip() not in ("", "3"):
                break  # at least two checkpoints written: kill mid-run
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be killed"
    finally:
        # every process of the job we started, by PID: torchrun puts its rank in a session of its own
        job = psutil.Process(proc.pid)
        for p in [*job.children(recursive=True), job]:
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        proc.wait()
    killed_at = int(open(tracker).read())
    assert 6 <= killed_at < 30 and not os.path.exists(os.path.join(out, "hf"))

    assert pretrain_main(cmd[4:]) == 0
    with open(os.path.join(out, "manifest.json")) as f:
        result = json.load(f)["result"]
    assert result["resumed_from"] == f"global_step_{killed_at}" and result["launches"] == 2
    second = [json.loads(line)["step"] for line in open(os.path.join(out, "metrics", "run-01.jsonl"))]
    assert second[0] == killed_at + 1 and second[-1] == 30  # resumed, not restarted
    assert [s for s, _ in loss_curve(out)][-1] == 30


def test_bad_stage_configs_fail_before_training(tmp_path, corpora, tiny_model):
    bad = tmp_path / "bad.yaml"
    bad.write_text("stage: pretrain\nlr: 3e-4\n")
    with pytest.raises(StageConfigError, match=r"unknown key\(s\) \['lr'\].*optim.lr: 2e-4"):
        load_config(str(bad))
    bad.write_text("stage: pretrain\nverl:\n  data.train_batch_size: sixteen\n")
    with pytest.raises(StageConfigError, match="verl.data.train_batch_size='sixteen'; must be an integer"):
        load_config(str(bad))
    bad.write_text("stage: rl\n")
    with pytest.raises(StageConfigError, match="stage='rl'; set `stage:` to one of pretrain, midtrain"):
        load_config(str(bad))
    with pytest.raises(StageConfigError, match="Could not override 'optim.lrr'"):
        check_overrides(["optim.lrr=3"])
    start = time.time()
    root, corpus = corpora
    rc = pretrain_main(["--config", os.path.join(CONFIGS, "pretrain_cpu.yaml"), "--corpus", corpus["pre"],
                        "--model", tiny_model, "--out", str(tmp_path / "x"), "optim.betass=[0.9,0.95]"])
    assert rc == 2 and time.time() - start < 60 and not os.path.exists(tmp_path / "x" / "checkpoints")
    assert pretrain_main(["--config", os.path.join(CONFIGS, "midtrain_cpu.yaml"), "--corpus", corpus["pre"],
                          "--model", tiny_model, "--out", str(tmp_path / "y")]) == 2  # a midtrain config


def test_shipped_configs_compose_with_verl():
    from interplay_verl.train import launch
    from interplay_verl.train.pretrain import stage_overrides

    for name in ("pretrain_cpu", "pretrain_paper", "midtrain_cpu", "midtrain_paper"):
        cfg = load_config(os.path.join(CONFIGS, f"{name}.yaml"))
        assert cfg["stage"] == name.split("_")[0]
        overrides = stage_overrides(cfg, CORPUS_STUB, "/models/m", "/out")
        check_overrides(launch.sft_overrides(overrides, cfg["device"], cfg.get("nproc", 1)))


CORPUS_STUB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets", "corpus_stub")


def test_paper_config_matches_spec():
    cfg = load_config(os.path.join(CONFIGS, "pretrain_paper.yaml"))["verl"]
    tokens_per_step = cfg["data.train_batch_size"] * 2048
    assert 0.45e6 < tokens_per_step < 0.55e6
    assert abs(tokens_per_step * cfg["trainer.total_training_steps"] - 10e9) < tokens_per_step
    assert (cfg["optim.lr"], cfg["optim.lr"] * cfg["optim.min_lr_ratio"]) == (2e-4, pytest.approx(3e-5))
    assert (cfg["optim.lr_warmup_steps_ratio"], cfg["optim.weight_decay"], cfg["optim.clip_grad"]) == (0.05, 0.1, 1.0)
    assert cfg["optim.lr_scheduler_type"] == "cosine" and cfg["engine.dtype"] == "bfloat16"


def test_hydra_output_goes_to_the_stage_unless_the_command_names_a_place():
    assert hydra_run_dir(["trainer.seed=1"], "/s/hydra/train-00") == ["hydra.run.dir=/s/hydra/train-00"]
    assert hydra_run_dir(["trainer.seed=1", "hydra.run.dir=/mine"], "/s/hydra/train-00") == []  # the user's wins
