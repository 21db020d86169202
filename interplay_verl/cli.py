"""``interplay-verl <command>``: one entry point for every stage of the pipeline."""

from __future__ import annotations

import sys

COMMANDS = {
    "generate": ("interplay_verl.problems.generate", "generate exact-op problems into parquet shards (+ manifest)"),
    "import": ("interplay_verl.data.released", "the paper's released problem rows -> our rows (gold graph rebuilt, checked)"),
    "tokenizer": ("interplay_verl.tokenizer", "train the byte-level BPE tokenizer on generated text (round-trip checked)"),
    "corpus": ("interplay_verl.corpus", "tokenize generated rows and pack them into fixed-length blocks"),
    "init-model": ("interplay_verl.models", "write a randomly initialised Qwen2 (size 0.2m, 0.8m, 1.2m or 100m)"),
    "pretrain": ("interplay_verl.train.pretrain", "pre-train on a packed corpus through verl's FSDP SFT trainer"),
    "midtrain": ("interplay_verl.train.pretrain:main_midtrain", "mid-train (continued pre-training) from a pretrain export"),
    "rl-data": ("interplay_verl.data.rl", "write generated rows as a verl RL parquet (gold graph in extra_info)"),
    "filter": ("interplay_verl.filters.offline", "keep the RL problems at a checkpoint's edge of competence"),
    "rl": ("interplay_verl.train.rl", "GRPO through verl main_ppo: process reward, online edge filter"),
    "eval-sets": ("interplay_verl.data.eval_sets", "write the held-out ID / OOD-edge / OOD-hard problems, disjoint from training"),
    "evaluate": ("interplay_verl.evaluation", "sample held-out problems, verify every sample; pass@k by op, context, split; plots"),
    "compare": ("interplay_verl.comparison", "one report (Markdown, JSON, plot) for several checkpoints' evaluations"),
    "budget": ("interplay_verl.budget", "compute accounting: supervised-token equivalents of pre-/mid-training and RL"),
    "doctor": ("interplay_verl.doctor", "versions, the device verl will use, and whether our plugin is active"),
    "splits": ("interplay_verl.data.splits", "check or remove id overlap between train / RL / eval sets"),
    "pipeline": ("interplay_verl.pipeline.runner", "the whole study from one YAML: data ... pretrain, midtrain, filter, rl, evaluate, report"),
    "study": ("interplay_verl.pipeline.study", "every arm of a study (recipes/studies/), sharing the stages arms have in common"),
}


def main(argv: list[str] | None = None) -> int:
    import importlib

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: interplay-verl <command> [options]\n\ncommands:")
        for name, (_, help_text) in COMMANDS.items():
            print(f"  {name:<12} {help_text}")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"interplay-verl: unknown command {name!r}; choose from {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module_name, _, function = COMMANDS[name][0].partition(":")
    return int(getattr(importlib.import_module(module_name), function or "main")(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
