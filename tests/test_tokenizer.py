import json
import os

import pytest
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer

from interplay_verl.testing.assets import toy_documents
from interplay_verl.tokenizer import TAGS


@pytest.fixture(scope="module")
def tok(tiny_model):
    return AutoTokenizer.from_pretrained(tiny_model)


def test_saved_beside_qwen2_config(tiny_model):
    with open(os.path.join(tiny_model, "config.json")) as f:
        assert json.load(f)["model_type"] == "qwen2"


@pytest.mark.parametrize("text", toy_documents(20, seed=123) + ["The number of  odd   spacing\tand\nnewlines equals 1000.", "ünïcödé ✓ 12"])
def test_autotokenizer_round_trips_and_matches_raw_bpe(tok, tiny_model, text):
    # transformers 5.x rebuilds a tokenizer saved beside a qwen2 config; it must not change ids
    raw = Tokenizer.from_file(os.path.join(tiny_model, "tokenizer.json"))
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert ids == raw.encode(text, add_special_tokens=False).ids
    assert tok.decode(ids) == text


def test_digits_are_single_tokens(tok):
    ids = tok("so L = 137 + 2048.", add_special_tokens=False)["input_ids"]
    pieces = [tok.convert_ids_to_tokens(i).lstrip("Ġ") for i in ids]
    assert [p for p in pieces if any(c.isdigit() for c in p)] == list("1372048")


def test_special_tokens_and_tags(tok):
    assert (tok.bos_token, tok.eos_token, tok.pad_token, tok.unk_token) == ("[BOS]", "[EOS]", "[PAD]", "[UNK]")
    assert len({tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.unk_token_id}) == 4
    for tag in TAGS:
        ids = tok(f" {tag} ", add_special_tokens=False)["input_ids"]
        assert tok.convert_tokens_to_ids(tag) in ids, tag
    doc = toy_documents(1)[0] + tok.eos_token
    ids = tok(doc, add_special_tokens=False)["input_ids"]
    assert ids[-1] == tok.eos_token_id and tok.decode(ids) == doc


def test_tags_survive_verls_response_decoding(tok):
    # verl's reward managers decode with skip_special_tokens=True
    text = " a = 3. </solution> <answer> 3 </answer>"
    ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id, tok.pad_token_id]
    assert tok.decode(ids, skip_special_tokens=True) == text


def test_chat_template_is_identity(tok):
    prompt = "<question> The number of adult lynx in Ash Valley equals 3. </question> <solution>"
    rendered = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    assert rendered == prompt


def test_tiny_model_loads_with_tokenizer_ids(tiny_model, tok):
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert model.config.vocab_size == len(tok)
    assert model.config.eos_token_id == tok.eos_token_id
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 64
