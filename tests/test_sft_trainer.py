"""verl's own FSDP SFT trainer (``verl.trainer.sft_trainer``) under torchrun, on CPU."""

import os

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from interplay_verl.testing.assets import split_document, toy_documents, write_toy_sft_parquet
from interplay_verl.testing.overrides import tiny_sft_overrides
from interplay_verl.train import launch

pytestmark = pytest.mark.slow  # verl SFT runs

STEPS = 20


@pytest.mark.parametrize("nproc", [1, 2])
def test_sft_trainer_learns_and_exports_hf_checkpoint(tiny_model, tmp_path, nproc, monkeypatch):
    train = write_toy_sft_parquet(str(tmp_path / "train.parquet"), 320, seed=1)
    val = write_toy_sft_parquet(str(tmp_path / "val.parquet"), 32, seed=2)
    out = tmp_path / "sft"
    cmd = launch.sft_command(tiny_sft_overrides(tiny_model, train, val, str(out), STEPS), "cpu", nproc=nproc)
    out.mkdir()
    monkeypatch.chdir(out)  # Hydra's default would write its output to out/outputs/<date>/<time>/
    logged = launch.run_stage("SFT", cmd, "cpu", str(out), timeout=600)
    # Hydra's own output (composed config, log) is in the stage, not outputs/<date>/ where it ran
    assert (out / "hydra" / "train" / ".hydra" / "config.yaml").exists() and not (out / "outputs").exists()

    losses = [m["data"]["train/loss"] for m in logged if "train/loss" in m["data"]]
    assert len(losses) == STEPS
    assert losses[-1] < 0.75 * losses[0], losses
    val_loss = [m["data"]["val/loss"] for m in logged if "val/loss" in m["data"]]
    assert val_loss and val_loss[-1] < losses[0]

    hf = out / f"global_step_{STEPS}" / "huggingface"
    model = AutoModelForCausalLM.from_pretrained(str(hf))
    tok = AutoTokenizer.from_pretrained(str(hf))
    before = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert not torch.equal(model.model.layers[0].mlp.up_proj.weight, before.model.layers[0].mlp.up_proj.weight)

    prompt, _ = split_document(toy_documents(1, seed=5)[0])
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)
    gen = model.generate(**ids, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
    assert gen.shape[1] > ids["input_ids"].shape[1]
    assert os.path.exists(hf / "tokenizer.json") and os.path.exists(hf / "config.json")
