"""Small local assets for tests and benchmarks: nothing is downloaded, ever.

``toy_documents`` writes text in the shape of docs/method.md#3-text-format (question, solution, answer
tags, quantity sentences, single-letter arithmetic) so the tokenizer learns the real
vocabulary; it is a stand-in until the problem generator feeds the tokenizer builder.
"""

from __future__ import annotations

import os
import random

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


def write_toy_rl_parquet(path: str, n: int, seed: int = 0) -> str:
    """verl RL schema: chat-list prompt (our tokenizer's template is the identity), rule reward."""
    import pandas as pd

    rows = []
    for i, doc in enumerate(toy_documents(n, seed)):
        prompt, answer = split_document(doc)
        rows.append(
            {
                "data_source": "toy",
                "prompt": [{"role": "user", "content": prompt}],
                "reward_model": {"style": "rule", "ground_truth": answer},
                "extra_info": {"index": i},
            }
        )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)
    return path


def build_tiny_model(out_dir: str, seed: int = 0, n_docs: int = 400) -> str:
    """Tokenizer + randomly initialised tiny Qwen2 in one Hugging Face directory."""
    tok_dir = os.path.join(out_dir, "tokenizer")
    train_tokenizer(toy_documents(n_docs, seed), tok_dir, vocab_size=512)
    return init_model(tok_dir, os.path.join(out_dir, "model"), size="0.2m", seed=seed)
