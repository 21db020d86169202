"""Completion ids -> the text a reward scores, with the six tags kept whatever the tokenizer marks special.

verl's reward managers and transformers' usual decoding drop special tokens. Our tokenizer
adds the tags as ordinary tokens, so that is harmless for our models; the paper's released
tokenizer marks them special, and ``... </solution> <answer> 3 </answer>`` would reach the
reward as ``...   3 ``: every sample scores 0. Here every special token except the tags is
dropped (pad, BOS, EOS, anything else the tokenizer declares), so both layouts decode to
the same text. Evaluation, the offline filter and the RL reward managers
(``interplay_verl.rewards.manager``) all decode through this one function.
"""

from __future__ import annotations

from collections.abc import Iterable

# The text format's tags (docs/method.md#3-text-format); tokenizer.py adds exactly these.
TAGS = ("<question>", "</question>", "<solution>", "</solution>", "<answer>", "</answer>")


def dropped_ids(tokenizer) -> frozenset[int]:
    """Ids of the special tokens a completion loses: all of the tokenizer's, the tags excepted."""
    cached = getattr(tokenizer, "_interplay_dropped_ids", None)
    if cached is not None:
        return cached
    vocab = tokenizer.get_vocab()
    tags = {vocab[t] for t in TAGS if t in vocab}
    special = set(tokenizer.all_special_ids)
    # tokens marked special only among the added tokens (tokenizer.json), not as named special tokens
    special.update(i for i, token in getattr(tokenizer, "added_tokens_decoder", {}).items()
                   if getattr(token, "special", False))
    for attr in ("pad_token_id", "bos_token_id", "eos_token_id"):
        value = getattr(tokenizer, attr, None)
        if value is not None:
            special.add(value)
    ids = frozenset(special - tags)
    try:
        tokenizer._interplay_dropped_ids = ids  # vocabularies do not change after loading
    except AttributeError:
        pass
    return ids


def completion_text(tokenizer, token_ids: Iterable[int]) -> str:
    """Decode a completion keeping the tags: special tokens other than the six tags are removed."""
    drop = dropped_ids(tokenizer)
    ids = [int(i) for i in token_ids]
    return tokenizer.decode([i for i in ids if i not in drop], skip_special_tokens=False,
                            clean_up_tokenization_spaces=False)
