"""Small local assets for tests and benchmarks: nothing is downloaded, ever.

``toy_documents`` writes text in the shape of docs/method.md#3-text-format (question, solution, answer
tags, quantity sentences, single-letter arithmetic) so the tokenizer learns the real
vocabulary; it is a stand-in until the problem generator feeds the tokenizer builder.
"""

from __future__ import annotations

import json
import os
import random
from typing import Optional

from interplay_verl.models import init_model
from interplay_verl.tokenizer import train_tokenizer

_ITEMS = ["adult lynx", "adult otter", "adult heron", "adult finch", "public school", "drama movie"]
_PLACES = ["Ash Valley", "Cold Brook Woods", "Mill Pond Park", "Harbor Town", "Lumen Film Festival"]


def toy_documents(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        a, b = rng.randint(0, 20), rng.randint(0, 20)
        qa = f"{rng.choice(_ITEMS)} in {rng.choice(_PLACES)}"
        qb = f"{rng.choice(_ITEMS)} in {rng.choice(_PLACES)}"
        va, vb = rng.choice("abcdefgh"), rng.choice("ijklmnop")
        docs.append(
            f"<question> The number of {qa} equals {a}. The number of {qb} equals {b} plus the number of {qa}. "
            f"How many {qb.split(' in ')[0]} does {qb.split(' in ')[1]} have? </question> <solution> "
            f"Define {qa} as {va}; so {va} = {a}. Define {qb} as {vb}; so {vb} = {b} + {va} = {b} + {a} = {a + b}. "
            f"</solution> <answer> {a + b} </answer>"
        )
    return docs


def split_document(doc: str) -> tuple[str, str]:
    """(prompt up to and including ``<solution>``, answer) of a training string."""
    prompt = doc.split("<solution>")[0] + "<solution>"
    answer = doc.split("<answer>")[1].split("</answer>")[0].strip()
    return prompt, answer


def write_toy_sft_parquet(path: str, n: int, seed: int = 0) -> str:
    import pandas as pd

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    pd.DataFrame({"text": toy_documents(n, seed)}).to_parquet(path)
    return path


def build_tiny_model(out_dir: str, seed: int = 0, n_docs: int = 400) -> str:
    """Tokenizer + randomly initialised tiny Qwen2 in one Hugging Face directory."""
    tok_dir = os.path.join(out_dir, "tokenizer")
    train_tokenizer(toy_documents(n_docs, seed), tok_dir, vocab_size=512)
    return init_model(tok_dir, os.path.join(out_dir, "model"), size="0.2m", seed=seed)


# The paper's checkpoints on the hub: <repo>/<subfolder>, loaded with from_pretrained(repo, subfolder=...)
RELEASED_REPO = "Interplay-LM-Reasoning/extrapolation_midtrain"
RELEASED_SUBFOLDER = "id2-10_0.2easy_0.3medium_0.5hard/midtrain/cpt0.2-uniform_0.8-11-14_plus/checkpoint-387"


def _paper_layout_tokenizers(texts: list[str], released_dir: str, ours_dir: str, vocab_size: int = 2200) -> None:
    """One vocabulary saved twice: as the released tokenizer lays it out (the six tags special,
    whole numbers below 1,000 as single tokens, saved as ``PreTrainedTokenizerFast``) and with the
    tags as ordinary added tokens, as ours adds them. Token ids and encodings are identical, so
    one set of weights serves both and only decoding can tell them apart."""
    import copy

    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from interplay_verl.tokenizer import RAW_CHAT_TEMPLATE, SPECIAL_TOKENS, TAGS

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\p{N}{1,3}"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    numbers = [" ".join(str(n) for n in range(1000))] * 8  # so that every number below 1,000 is one token
    tok.train_from_iterator(texts + numbers, trainer=trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    for out, special in ((released_dir, True), (ours_dir, False)):
        layout = copy.deepcopy(tok)
        layout.add_tokens([AddedToken(t, special=special, normalized=False) for t in TAGS])
        fast = PreTrainedTokenizerFast(tokenizer_object=layout, unk_token="[UNK]", pad_token="[PAD]",
                                       bos_token="[BOS]", eos_token="[EOS]", model_max_length=2048,
                                       clean_up_tokenization_spaces=False,
                                       **({"additional_special_tokens": TAGS} if special else {}))
        fast.chat_template = RAW_CHAT_TEMPLATE
        os.makedirs(out, exist_ok=True)
        fast.save_pretrained(out)
        # saved as transformers 4 saved the released tokenizers (see tokenizer.load_tokenizer)
        path = os.path.join(out, "tokenizer_config.json")
        with open(path) as f:
            config = json.load(f)
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
        with open(path, "w") as f:
            json.dump(config, f, indent=2)


def build_released_layout(root: str, texts: Optional[list[str]] = None, seed: int = 0) -> dict[str, str]:
    """A stand-in for one of the paper's released checkpoints, made here (the hub is out of reach).

    Writes a tiny random Qwen2 with a released-style tokenizer in three places:
    ``mirror/<org>/<name>/<subfolder>`` (a mirror directory, ``INTERPLAY_VERL_MODEL_MIRROR``),
    ``hub/models--<org>--<name>/snapshots/<rev>/<subfolder>`` (the Hugging Face cache layout,
    ``HF_HUB_CACHE``), and ``ours/``: the same weights with our tokenizer layout (tags ordinary).
    Returns those paths and the repository id and subfolder."""
    import shutil

    texts = texts or toy_documents(400, seed)
    released_tok, ours_tok = os.path.join(root, "tokenizers", "released"), os.path.join(root, "tokenizers", "ours")
    _paper_layout_tokenizers(texts, released_tok, ours_tok)
    mirror = os.path.join(root, "mirror")
    released = init_model(released_tok, os.path.join(mirror, RELEASED_REPO, RELEASED_SUBFOLDER), "0.2m", seed)
    ours = os.path.join(root, "ours")
    shutil.copytree(released, ours)
    for tokenizer, model in ((released_tok, released), (ours_tok, ours)):  # the files as transformers 4 wrote them
        for name in os.listdir(tokenizer):
            shutil.copy(os.path.join(tokenizer, name), os.path.join(model, name))
    revision = "0" * 40
    repo_cache = os.path.join(root, "hub", "models--" + RELEASED_REPO.replace("/", "--"))
    shutil.copytree(os.path.join(mirror, RELEASED_REPO), os.path.join(repo_cache, "snapshots", revision))
    os.makedirs(os.path.join(repo_cache, "refs"), exist_ok=True)
    with open(os.path.join(repo_cache, "refs", "main"), "w") as f:
        f.write(revision)
    return {"released": released, "ours": ours, "mirror": mirror, "hub_cache": os.path.join(root, "hub"),
            "repo": RELEASED_REPO, "subfolder": RELEASED_SUBFOLDER}
