"""``interplay-verl <command>``: one entry point for every stage of the pipeline."""

from __future__ import annotations

import sys

COMMANDS = {
    "generate": ("interplay_verl.problems.generate", "generate exact-op problems into parquet shards (+ manifest)"),
    "doctor": ("interplay_verl.doctor", "versions, the device verl will use, and whether our plugin is active"),
    "splits": ("interplay_verl.data.splits", "check or remove id overlap between train / RL / eval sets"),
    "smoke": ("interplay_verl.smoke", "tiny end-to-end run: tokenizer, model, verl SFT, verl GRPO (CPU)"),
    "make-tiny": ("interplay_verl.assets", "train a tokenizer and write a random tiny Qwen2 (for smoke runs)"),
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
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
