"""``interplay-verl budget``: compute accounting (docs/method.md#12-compute-accounting) in supervised-token equivalents.

The paper puts mid-training and RL on one budget by counting an RL step as the supervised
tokens that would cost the same: T_RL = c * N * r * L, with N prompts, r rollouts per prompt and
L tokens per rollout (prompt + response). The constant c comes from FLOPs per token, P the
parameter count:

- a supervised token costs a forward and a backward pass: 2P + 4P = 6P;
- an RL token costs a generation forward (2P, times d, the decoding inefficiency: tokens are
  produced one at a time, memory-bound, so a GPU does d times fewer useful FLOPs per second
  than in training), an old-log-prob forward (2P), a reference forward when the KL term is on
  (2P), and a forward + backward per PPO epoch (6P each);
- c = (2P*d + 2P + 2P*[kl] + 6P*epochs) / 6P = (2d + 2 + 2[kl] + 6 epochs) / 6.

The paper's c = 5.3 corresponds to d ~= 10.9 with KL and one epoch. ``--factor`` sets c
directly; ``--decode-inefficiency`` derives it. A budget of B nominal RL steps split by a
mid-training fraction f spends f*B steps' worth of tokens on mid-training and (1 - f)*B on RL.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

PAPER_FACTOR = 5.3


def gpu_hours(tokens: float, params: float, peak_tflops: float, mfu: float) -> float:
    """Supervised-token equivalents to GPU-hours: 6 * params FLOPs per token at ``mfu`` of the peak."""
    if not (peak_tflops > 0 and 0 < mfu <= 1):
        raise ValueError(f"--gpu-tflops {peak_tflops} --mfu {mfu}: need a positive peak and 0 < mfu <= 1")
    return tokens * 6 * params / (peak_tflops * 1e12 * mfu) / 3600


def model_parameters(size: str) -> int:
    """Parameters of a model size of ``models.SIZES``, counted on a model built from its config."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    from interplay_verl.models import SIZES

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(Qwen2Config(**SIZES[size], vocab_size=2200))
    return sum(p.numel() for p in model.parameters())


def rl_factor(decode_inefficiency: float, kl: bool = True, epochs: int = 1) -> float:
    """c of T_RL = c * N * r * L from the FLOP count above."""
    if decode_inefficiency < 1 or epochs < 1:
        raise ValueError(f"need decode_inefficiency >= 1 and epochs >= 1, got {decode_inefficiency}, {epochs}")
    return (2 * decode_inefficiency + 2 + 2 * int(kl) + 6 * epochs) / 6


def rl_tokens(prompts: int, rollouts: int, tokens_per_rollout: float, factor: float = PAPER_FACTOR) -> float:
    """Supervised-token equivalents of RL on ``prompts`` prompts (all steps together)."""
    if prompts < 0 or rollouts < 1 or tokens_per_rollout <= 0 or factor <= 0:
        raise ValueError("need prompts >= 0, rollouts >= 1, tokens_per_rollout > 0, factor > 0")
    return factor * prompts * rollouts * tokens_per_rollout


def split_budget(budget_steps: float, fraction: float, step_tokens: float) -> dict:
    """Mid-training tokens and RL steps that a mid-training fraction gives of a budget of RL steps."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"mid-training fraction {fraction}: must be in [0, 1]")
    total = budget_steps * step_tokens
    return {"budget_steps": budget_steps, "fraction": fraction, "budget_tokens": total,
            "midtrain_tokens": fraction * total, "rl_steps": (1 - fraction) * budget_steps,
            "regime": "Full-RL" if fraction == 0 else "Light-RL" if fraction > 0.5 else "Heavy-RL" if fraction < 0.5
            else "balanced"}


def stage_tokens(config: str, block_size: int) -> float:
    """Tokens a pretrain/midtrain stage config trains on: steps x blocks per step x block size."""
    from interplay_verl.train.pretrain import load_config

    verl = load_config(config)["verl"]
    return float(verl["trainer.total_training_steps"]) * float(verl["data.train_batch_size"]) * block_size


def rl_settings(config_name: str) -> dict:
    """Prompts per step, rollouts, rollout length bound and steps of one of our GRPO configs."""
    from interplay_verl.train.rl import CONFIG_DIR
    from interplay_verl.train.launch import check_overrides

    cfg = check_overrides([], config_name, CONFIG_DIR)
    return {"prompts_per_step": int(cfg.data.train_batch_size), "rollouts": int(cfg.actor_rollout_ref.rollout.n),
            "max_rollout_tokens": int(cfg.data.max_prompt_length) + int(cfg.data.max_response_length),
            "steps": int(cfg.trainer.total_training_steps), "kl": bool(cfg.actor_rollout_ref.actor.use_kl_loss)}


def measured_rollout_tokens(rl_dir: str) -> tuple[float, int]:
    """(mean prompt + response tokens per rollout, steps) of an RL stage, from the lengths verl logs
    every step (``prompt_length/mean``, ``response_length/mean``), averaged over its steps."""
    from interplay_verl.train.stage import metric_curve

    prompts, responses = metric_curve(rl_dir, "prompt_length/mean"), metric_curve(rl_dir, "response_length/mean")
    if not prompts or not responses:
        raise ValueError(f"--from-run {rl_dir}: no prompt_length/mean and response_length/mean in "
                         f"{os.path.join(rl_dir, 'metrics')} (an RL stage directory of `interplay-verl rl`)")
    return (sum(v for _, v in prompts) / len(prompts) + sum(v for _, v in responses) / len(responses),
            len(responses))


def account(pretrain_config: Optional[str], midtrain_config: Optional[str], rl_config: str, block_size: int,
            rollout_tokens: Optional[float], factor: float, fractions: list[float], budget_steps: list[float],
            gpu: Optional[dict] = None, from_run: Optional[str] = None) -> dict:
    """``gpu``: ``{"params", "peak_tflops", "mfu"}`` adds GPU-hours per stage (docs/cluster.md#7).
    L is, in order: ``rollout_tokens``, the mean measured in the RL run ``from_run``, the config's
    maximum prompt + response (an upper bound: the paper's released checkpoints imply ~620 tokens
    against 2,048, a 3x overcount)."""
    rl = rl_settings(rl_config)
    if rollout_tokens and from_run:
        raise ValueError("give --rollout-tokens or --from-run, not both")
    if rollout_tokens:
        length, source = rollout_tokens, "--rollout-tokens"
    elif from_run:
        length, steps = measured_rollout_tokens(from_run)
        source = f"measured: mean over {steps} steps of {os.path.abspath(from_run)}"
    else:
        length, source = rl["max_rollout_tokens"], "the config's maximum prompt + response (an upper bound)"
    step_tokens = rl_tokens(rl["prompts_per_step"], rl["rollouts"], length, factor)
    out = {
        "factor": factor,
        "rl": {**rl, "tokens_per_rollout": length, "tokens_per_rollout_from": source, "tokens_per_step": step_tokens,
               "tokens_total": step_tokens * rl["steps"]},
        "splits": [split_budget(b, f, step_tokens) for b in budget_steps for f in fractions],
    }
    if pretrain_config:
        out["pretrain_tokens"] = stage_tokens(pretrain_config, block_size)
    if midtrain_config:
        out["midtrain_tokens"] = stage_tokens(midtrain_config, block_size)
        out["midtrain_in_rl_steps"] = out["midtrain_tokens"] / step_tokens
    if gpu:
        stages = {"pretrain": out.get("pretrain_tokens"), "midtrain": out.get("midtrain_tokens"),
                  "rl": out["rl"]["tokens_total"]}
        out["gpu_hours"] = {**{k: round(gpu_hours(t, **gpu), 1) for k, t in stages.items() if t}, "assumed": gpu}
    return out


def main(argv: Optional[list[str]] = None) -> int:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(prog="interplay-verl budget", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--pretrain-config", default=os.path.join(root, "recipes", "configs", "pretrain_paper.yaml"))
    p.add_argument("--midtrain-config", default=os.path.join(root, "recipes", "configs", "midtrain_paper.yaml"))
    p.add_argument("--rl-config", default="interplay_grpo", help="interplay_grpo (paper) or interplay_grpo_cpu")
    p.add_argument("--block-size", type=int, default=2048, help="tokens per packed block of the corpora")
    p.add_argument("--rollout-tokens", type=float,
                   help="mean prompt + response tokens per rollout (default: --from-run, else the config's maximum, "
                        "an upper bound)")
    p.add_argument("--from-run", metavar="RL_DIR",
                   help="an RL stage directory: L is the mean prompt + response length verl logged there")
    p.add_argument("--factor", type=float, help=f"c in T_RL = c*N*r*L (default {PAPER_FACTOR}, the paper's)")
    p.add_argument("--decode-inefficiency", type=float, help="derive c from d (see the module docstring)")
    p.add_argument("--fractions", default="0,0.2,0.5,0.8", help="mid-training fractions of the budget")
    p.add_argument("--budget-steps", default="50,200,950", help="budgets in nominal RL steps")
    p.add_argument("--model-size", default="100m", help="the model whose parameters turn tokens into FLOPs")
    p.add_argument("--gpu-tflops", type=float, default=312.0, help="peak dense bf16 TFLOP/s per GPU (A100: 312)")
    p.add_argument("--mfu", type=float, default=0.4, help="model FLOPs utilisation reached (train/mfu in the logs)")
    args = p.parse_args(argv)
    from interplay_verl.command import report

    def work() -> dict:
        if args.factor is not None and args.decode_inefficiency is not None:
            raise ValueError("give --factor or --decode-inefficiency, not both")
        factor = args.factor or (rl_factor(args.decode_inefficiency) if args.decode_inefficiency else PAPER_FACTOR)
        return account(args.pretrain_config, args.midtrain_config, args.rl_config, args.block_size,
                       args.rollout_tokens, factor, [float(f) for f in args.fractions.split(",")],
                       [float(b) for b in args.budget_steps.split(",")],
                       {"params": model_parameters(args.model_size), "peak_tflops": args.gpu_tflops, "mfu": args.mfu},
                       from_run=args.from_run)

    return report("budget", work, (ValueError, OSError, KeyError))


if __name__ == "__main__":
    sys.exit(main())
