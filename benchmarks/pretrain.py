"""Pre-training throughput: verl's FSDP SFT trainer vs a plain PyTorch loop, same model, data and batch.

Both run the 0.8m model (the CPU study's size) on the same packed op 2-4 corpus with the same batch (blocks
per step, one block per micro-batch), AdamW, clipping and precision: fp32 (the CPU config's
choice) or bf16 autocast (verl's FSDP default, and the paper's). verl's step times come from the arrival of each step's line in its file logger, so
start-up (Ray-free here, but torchrun + model build) is excluded like the plain loop's warm-up.

    python benchmarks/pretrain.py [--steps 14] [--warmup 3] [--block-size 1024] [--batch 16] [--precision bf16]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, "..", "recipes", "configs", "pretrain_cpu.yaml")


def prepare(root: str, block: int, tokens: int) -> tuple[str, str]:
    from interplay_verl.corpus import build
    from interplay_verl.models import init_model
    from interplay_verl.problems.generate import main as generate
    from interplay_verl.tokenizer import main as tokenizer

    rows, tok, corpus, model = (os.path.join(root, d) for d in ("rows", "tok", "corpus", "model"))
    generate(["--ops", "2-4", "--tokens", str(tokens), "--seed", "0", "--out", rows, "--quiet"])
    tokenizer(["--rows", rows, "--out", tok])
    build(rows, tok, corpus, block_size=block, quiet=True)
    init_model(tok, model, size="0.8m", seed=0)
    return corpus, model


def verl_steps(corpus: str, model: str, out: str, steps: int, batch: int, precision: str,
               overrides: tuple = ()) -> tuple[list[float], list[int]]:
    """Wall time at which each step's metrics line appeared, and its token count."""
    metrics = os.path.join(out, "metrics", "run-00.jsonl")
    cmd = [sys.executable, "-m", "interplay_verl.cli", "pretrain", "--config", CONFIG, "--corpus", corpus,
           "--model", model, "--out", out, f"trainer.total_training_steps={steps}", f"trainer.save_freq={steps}",
           f"data.train_batch_size={batch}", "data.micro_batch_size_per_gpu=1",
           f"++engine.mixed_precision.param_dtype={precision}", "++engine.mixed_precision.reduce_dtype=fp32",
           *overrides]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: list[float] = []
    tokens: list[int] = []
    while True:
        done = proc.poll() is not None
        if os.path.exists(metrics):
            with open(metrics) as f:
                lines = [line for line in f if line.endswith("\n")]
            for line in lines[len(seen):]:
                seen.append(time.perf_counter())
                tokens.append(int(json.loads(line)["data"].get("train/global_tokens", 0)))
        if done:
            break
        time.sleep(0.02)
    if proc.returncode != 0:
        raise SystemExit(f"verl run failed (exit {proc.returncode}); see {out}/train-00.log")
    return seen, tokens


def plain_steps(corpus: str, model_dir: str, steps: int, batch: int, precision: str) -> tuple[list[float], list[int]]:
    import torch
    from transformers import AutoModelForCausalLM

    from interplay_verl.data.packed import PackedCorpusDataset

    torch.manual_seed(0)
    ds = PackedCorpusDataset(corpus)
    model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa", dtype=torch.float32)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
    stamps, tokens = [], []
    for step in range(steps):
        items = [ds[(step * batch + i) % len(ds)] for i in range(batch)]
        n_loss = sum(int(it["loss_mask"].sum()) for it in items)
        for it in items:
            ids, pos, mask = it["input_ids"][None], it["position_ids"][None], it["loss_mask"]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                logits = model(input_ids=ids, position_ids=pos, use_cache=False).logits  # as verl: packed mask
            logp = torch.log_softmax(logits[0, :-1].float(), -1).gather(-1, ids[0, 1:, None])[:, 0]
            (-(logp * mask[1:]).sum() / n_loss).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        stamps.append(time.perf_counter())
        tokens.append(sum(len(it["input_ids"]) for it in items))
    return stamps, tokens


def rate(stamps: list[float], tokens: list[int], warmup: int) -> float:
    return sum(tokens[warmup + 1:]) / (stamps[-1] - stamps[warmup])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=14)
    p.add_argument("--warmup", type=int, default=3, help="steps left out of the rate")
    p.add_argument("--block-size", type=int, default=1024)
    p.add_argument("--batch", type=int, default=16, help="blocks per step")
    p.add_argument("--tokens", type=int, default=800_000, help="corpus size")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("overrides", nargs="*", help="extra verl overrides for the verl run (key=value)")
    args = p.parse_args(argv)
    os.environ.setdefault("VERL_PLATFORM", "cpu")
    with tempfile.TemporaryDirectory() as root:
        corpus, model = prepare(root, args.block_size, args.tokens)
        with open(os.path.join(corpus, "manifest.json")) as f:
            efficiency = json.load(f)["stats"]["packing_efficiency"]
        plain = rate(*plain_steps(corpus, model, args.steps, args.batch, args.precision), args.warmup)
        verl = rate(*verl_steps(corpus, model, os.path.join(root, "verl"), args.steps, args.batch,
                                     args.precision, tuple(args.overrides)), args.warmup)
    result = {"benchmark": "pretrain", "precision": args.precision, "block_size": args.block_size, "batch_blocks": args.batch,
              "plain_tok_s": round(plain), "verl_tok_s": round(verl), "verl_over_plain": round(verl / plain, 3),
              "packing_efficiency": efficiency, "verl_overrides": args.overrides, "threads": __import__("torch").get_num_threads()}
    print(f"{'path':<12} {'tokens/s':>10}")
    print(f"{'plain loop':<12} {plain:>10.0f}")
    print(f"{'verl':<12} {verl:>10.0f}   ({verl / plain:.2f}x the plain loop; target >= 0.7)")
    print(f"packing efficiency {efficiency:.4f} (target >= 0.95)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
