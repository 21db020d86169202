"""Our own tokenizer: byte-level BPE trained on the corpus, digits always single tokens.

The paper's tokenizer mis-escaped its split regex (words split at every "s" and "p"); ours
splits digits individually (arithmetic stays learnable: "137" is always 1,3,7) and keeps
the docs/method.md#3-text-format tags whole (added tokens, not "special" ones, so even verl's
stock decoding with ``skip_special_tokens`` keeps them; ours keeps them either way). Byte-level matters beyond coverage:
transformers 5.x rebuilds any tokenizer saved beside a qwen2 config as byte-level BPE, so
a different model type of tokenizer would be silently mangled on load.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from typing import Optional

from interplay_verl.rewards.decoding import TAGS

SPECIAL_TOKENS = ["[UNK]", "[PAD]", "[BOS]", "[EOS]"]

# Base models have no chat format: the "template" is the identity on message contents, so
# verl's chat-based RL data path feeds the model exactly the raw prompt string.
RAW_CHAT_TEMPLATE = "{% for message in messages %}{{ message['content'] }}{% endfor %}"


def train_tokenizer(texts: Iterable[str], out_dir: str, vocab_size: int = 2200, model_max_length: int = 2048) -> str:
    """Train on ``texts`` and save a Hugging Face tokenizer directory; returns ``out_dir``."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    # Tags are whole tokens but not "special": verl's reward managers decode responses with
    # skip_special_tokens=True, and the reward must still see <answer> ... </answer>.
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAGS])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        bos_token="[BOS]",
        eos_token="[EOS]",
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = RAW_CHAT_TEMPLATE
    os.makedirs(out_dir, exist_ok=True)
    fast.save_pretrained(out_dir)
    return out_dir



TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")
# text of the kind the models read, numbers of several digits included: a rebuilt tokenizer that
# splits it differently from the saved one would feed a checkpoint pieces it never saw
_PROBE = ("<question> The number of adult owl in Pine Zoo equals 17. </question> <solution> Define adult owl "
          "in Pine Zoo as a; so a = 170 + 25 = 195. </solution> <answer> 195 </answer>")


def rebuilt_on_load(path: str) -> bool:
    """Would ``AutoTokenizer`` tokenize differently from the checkpoint's own ``tokenizer.json``?

    transformers 5 loads any tokenizer beside a ``qwen2`` config as ``Qwen2Tokenizer``: it keeps the
    vocabulary and merges but replaces the pre-tokenizer with Qwen2's (digits one by one). Ours is
    built for that (it splits digits too): no difference. The paper's released tokenizers keep
    whole numbers up to three digits as one token: rebuilt, every number reaches the model in
    pieces it never saw. Decided from what the two loaders make of a probe text, so a released
    tokenizer re-saved by transformers 5 (a checkpoint of a run started from one) is caught too."""
    files = [f for f in ("tokenizer.json", "config.json", "tokenizer_config.json")
             if os.path.isfile(os.path.join(path, f))]
    if "tokenizer.json" not in files or "config.json" not in files:
        return False  # without a model config, transformers loads tokenizer.json as saved
    stats = tuple((f, os.stat(os.path.join(path, f)).st_mtime_ns, os.stat(os.path.join(path, f)).st_size)
                  for f in files)
    return _rebuilt(os.path.abspath(path), stats)


@functools.lru_cache(maxsize=64)
def _rebuilt(path: str, stats: tuple) -> bool:
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    auto, saved = AutoTokenizer.from_pretrained(path), PreTrainedTokenizerFast.from_pretrained(path)
    return auto(_PROBE, add_special_tokens=False)["input_ids"] != saved(_PROBE, add_special_tokens=False)["input_ids"]


def tokenizer_only_copy(path: str, out: str) -> str:
    """The tokenizer files of checkpoint ``path`` in ``out``, without the model config: transformers
    then loads them from their tokenizer.json (how verl's workers get the released tokenizers right,
    through ``actor_rollout_ref.model.tokenizer_path``)."""
    import shutil

    os.makedirs(out, exist_ok=True)
    for name in TOKENIZER_FILES:
        if os.path.isfile(os.path.join(path, name)):
            shutil.copyfile(os.path.join(path, name), os.path.join(out, name))
    return out


def verl_tokenizer_path(model: str, out: str) -> Optional[str]:
    """What a verl trainer stage writing ``out`` sets as ``model.tokenizer_path``: a tokenizer-only
    copy of ``model``'s (``<out>/tokenizer``) when AutoTokenizer would rebuild it, else None."""
    return tokenizer_only_copy(model, os.path.join(os.path.abspath(out), "tokenizer")) if rebuilt_on_load(model) else None


def load_tokenizer(path: str):
    """A checkpoint's tokenizer, tokenizing as the checkpoint was trained to (``rebuilt_on_load``)."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    if rebuilt_on_load(path):
        return PreTrainedTokenizerFast.from_pretrained(path)
    return AutoTokenizer.from_pretrained(path)


def check_round_trip(tokenizer_dir: str, texts: list[str]) -> int:
    """Load with AutoTokenizer (as every trainer does) and require decode(encode(t)) == t for all ``texts``."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    for start in range(0, len(texts), 4096):
        chunk = texts[start:start + 4096]
        ids = tok(chunk, add_special_tokens=False)["input_ids"]
        for i, (text, back) in enumerate(zip(chunk, tok.batch_decode(ids, clean_up_tokenization_spaces=False))):
            if back != text:
                raise ValueError(f"{tokenizer_dir}: document {start + i} does not round-trip:\n{text!r}\n{back!r}")
    return len(texts)


def build_tokenizer(rows: str, out: str, *, vocab_size: int = 2200, max_docs: int = 200_000,
                    model_max_length: int = 2048) -> dict:
    """Train on the first ``max_docs`` texts of a row set, check every one round-trips, write the manifest."""
    from interplay_verl.data.rows import iter_texts
    from interplay_verl.manifest import invalidate, write_manifest

    texts = list(iter_texts(rows, limit=max_docs))
    invalidate(out)
    train_tokenizer(texts, out, vocab_size=vocab_size, model_max_length=model_max_length)
    checked = check_round_trip(out, texts)
    write_manifest(out, config={"rows": os.path.abspath(rows), "vocab_size": vocab_size, "max_docs": max_docs,
                                "model_max_length": model_max_length}, seed=None, kind="tokenizer",
                   round_trip_checked=checked)
    return {"out": out, "documents": len(texts), "round_trip_checked": checked}


def main(argv: list[str] | None = None) -> int:
    import argparse

    from interplay_verl.command import report
    from interplay_verl.data.rows import RowsError

    p = argparse.ArgumentParser(prog="interplay-verl tokenizer", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--rows", required=True, help="output directory of `interplay-verl generate`")
    p.add_argument("--out", required=True, help="Hugging Face tokenizer directory to write")
    p.add_argument("--vocab-size", type=int, default=2200)
    p.add_argument("--max-docs", type=int, default=200_000, help="documents to train on (and round-trip)")
    p.add_argument("--model-max-length", type=int, default=2048)
    args = p.parse_args(argv)
    return report("tokenizer", lambda: build_tokenizer(args.rows, args.out, vocab_size=args.vocab_size,
                                                       max_docs=args.max_docs, model_max_length=args.model_max_length),
                  (RowsError, ValueError))
