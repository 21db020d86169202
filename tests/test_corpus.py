"""Tokenizer from generated text, packed corpus, and the packed dataset: no leak across documents."""

import hashlib
import json
import os

import pytest
import torch

from interplay_verl.corpus import CorpusError, build, pack
from interplay_verl.data.rows import RowsError, iter_texts, load_rows
from interplay_verl.data.packed import PackedCorpusDataset, block_tensors
from interplay_verl.problems.generate import main as generate_main
from interplay_verl.tokenizer import TAGS, check_round_trip
from interplay_verl.tokenizer import main as tokenizer_main


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """op 2-10 rows (both modes), a tokenizer trained on them, and a 2048-block corpus."""
    root = tmp_path_factory.mktemp("corpus")
    rows, tok = str(root / "rows"), str(root / "tok")
    assert generate_main(["--ops", "2-10", "--per-op", "40", "--modes", "forward,reverse", "--seed", "3",
                          "--out", rows, "--quiet"]) == 0
    assert tokenizer_main(["--rows", rows, "--out", tok, "--vocab-size", "1200"]) == 0
    return root, rows, tok


def test_pack_best_fit_decreasing():
    assert pack([5, 3, 4, 2, 6], 10) == [[4, 2], [0, 1, 3]]
    lengths = [37, 512, 100, 1, 480, 33, 260, 260, 260, 7] * 7
    blocks = pack(lengths, 512)
    assert sorted(i for b in blocks for i in b) == list(range(len(lengths)))  # every document exactly once
    assert all(sum(lengths[i] for i in b) <= 512 for b in blocks)
    assert pack(lengths, 512) == blocks  # deterministic


def test_tokenizer_from_generated_text(generated):
    from transformers import AutoTokenizer

    _, rows, tok_dir = generated
    tok = AutoTokenizer.from_pretrained(tok_dir)
    texts = list(iter_texts(rows))
    assert check_round_trip(tok_dir, texts) == len(texts) == 9 * 40 * 2
    assert all(len(tok.tokenize(t)) == 1 for t in TAGS)
    pieces = tok.tokenize("so a = 137 + 2048.")
    assert [p for p in pieces if p.strip("Ġ").isdigit()] == ["1", "3", "7", "2", "0", "4", "8"]
    assert {tok.unk_token, tok.pad_token, tok.bos_token, tok.eos_token} == {"[UNK]", "[PAD]", "[BOS]", "[EOS]"}
    with open(os.path.join(tok_dir, "manifest.json")) as f:
        assert json.load(f)["round_trip_checked"] == len(texts)


def test_corpus_leaves_out_held_out_ids(generated):
    root, rows, tok_dir = generated
    ids = [r["id"] for r in load_rows(rows, columns=["id"])]
    held = set(ids[::10])  # every tenth row is an evaluation problem
    stats = build(rows, tok_dir, str(root / "held"), block_size=2048, quiet=True, exclude_ids=held)
    assert stats["held_out"] == len(held) and stats["documents"] == len(ids) - len(held)
    texts = list(iter_texts(rows, skip_ids=held))
    assert len(texts) == len(ids) - len(held) and texts[0] == next(iter_texts(rows, limit=2, skip_ids={ids[0]}))
    assert list(iter_texts(rows, limit=3, skip_ids={ids[1]})) == [t for i, t in enumerate(iter_texts(rows, limit=4))
                                                                 if i != 1]


def test_corpus_blocks_hold_every_document_whole(generated):
    from transformers import AutoTokenizer

    root, rows, tok_dir = generated
    out = str(root / "blocks2048")
    stats = build(rows, tok_dir, out, block_size=2048, quiet=True)
    tok = AutoTokenizer.from_pretrained(tok_dir)
    ds = PackedCorpusDataset(out)
    assert len(ds) == stats["blocks"]
    docs = []
    for i in range(len(ds)):
        item = ds[i]
        starts = (item["position_ids"] == 0).nonzero().flatten().tolist() + [len(item["input_ids"])]
        assert len(item["input_ids"]) <= 2048
        for a, b in zip(starts, starts[1:]):
            ids = item["input_ids"][a:b].tolist()
            assert ids[-1] == tok.eos_token_id
            docs.append(tok.decode(ids[:-1]))
        assert item["loss_mask"][starts[:-1]].sum() == 0 and item["loss_mask"].sum() == len(item["input_ids"]) - len(starts) + 1
    assert sorted(docs) == sorted(iter_texts(rows))
    assert stats["tokens"] == sum(len(ds[i]["input_ids"]) for i in range(len(ds)))
    assert stats["packing_efficiency"] >= 0.95, stats
    with open(os.path.join(out, "manifest.json")) as f:
        manifest = json.load(f)
    assert manifest["stats"]["packing_efficiency"] == stats["packing_efficiency"]
    assert manifest["generation_config"]["ops"] == "2-10" and manifest["config"]["block_size"] == 2048


def test_corpus_is_byte_identical_on_rebuild_and_rejects_bad_input(generated, tmp_path):
    root, rows, tok_dir = generated

    def digest(directory):
        return {f: hashlib.sha256(open(os.path.join(directory, f), "rb").read()).hexdigest()
                for f in sorted(os.listdir(directory)) if f.endswith(".parquet")}

    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    build(rows, tok_dir, a, block_size=512, quiet=True)
    build(rows, tok_dir, b, block_size=512, quiet=True)
    assert digest(a) == digest(b) and digest(a)
    with pytest.raises(RowsError, match="no parquet shards"):
        build(str(tmp_path), tok_dir, str(tmp_path / "c"))
    with pytest.raises(CorpusError, match="no document fits in --block-size 16"):
        build(rows, tok_dir, str(tmp_path / "d"), block_size=16, quiet=True)


def _logprobs(model, input_ids, position_ids):
    with torch.no_grad():
        # use_cache=False as verl passes it: with a cache transformers skips the packed-sequence mask
        logits = model(input_ids=input_ids, position_ids=position_ids, attention_mask=None, use_cache=False).logits.float()
    return torch.log_softmax(logits[0, :-1], -1).gather(-1, input_ids[0, 1:, None])[:, 0]


def test_packed_batch_loss_equals_each_document_alone(generated, tiny_model):
    """The inputs verl builds for a no-padding micro-batch with use_remove_padding=True: every
    sample's tokens flattened into one row, positions as the dataset gives them, no attention
    mask. Per-token log-probs must equal those of each document run on its own."""
    from transformers import AutoModelForCausalLM
    from verl.utils.dataset.dataset_utils import DatasetPadMode, SFTTensorCollator

    root, rows, _ = generated
    out = str(root / "blocks_tiny")
    build(rows, tiny_model, out, block_size=1024, quiet=True)  # the tiny model's own tokenizer
    ds = PackedCorpusDataset(out)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation="sdpa").eval()
    # the last blocks hold the small documents (best-fit decreasing places big ones first)
    batch = SFTTensorCollator(DatasetPadMode.NO_PADDING)([ds[len(ds) - 2], ds[len(ds) - 1]])  # verl's collation
    input_ids = batch["input_ids"].values().unsqueeze(0)
    position_ids = batch["position_ids"].values().unsqueeze(0)
    loss_mask = batch["loss_mask"].values()
    packed = _logprobs(model, input_ids, position_ids)

    flat = input_ids[0]
    starts = (position_ids[0] == 0).nonzero().flatten().tolist() + [len(flat)]
    assert len(starts) - 1 > 2  # more documents than blocks: a boundary inside a block, and one between blocks
    alone = torch.zeros_like(packed)
    for a, b in zip(starts, starts[1:]):
        doc = flat[a:b].unsqueeze(0)
        alone[a:b - 1] = _logprobs(model, doc, torch.arange(b - a).unsqueeze(0))
    trained = loss_mask[1:].bool()  # log-prob t predicts token t+1; verl rolls the mask the same way
    assert not trained[[s - 1 for s in starts[1:-1]]].any()  # no document's first token is predicted from another
    torch.testing.assert_close(packed[trained], alone[trained], atol=1e-5, rtol=1e-5)

    # negative control: the same tokens with running positions attend across documents
    leaked = _logprobs(model, input_ids, torch.arange(len(flat)).unsqueeze(0))
    assert (leaked[trained] - alone[trained]).abs().max() > 1e-2


def test_block_tensors_rejects_inconsistent_lengths():
    with pytest.raises(ValueError, match="block has 3 tokens but its documents sum to 4"):
        block_tensors([1, 2, 3], [2, 2])
    item = block_tensors([5, 6, 7, 8, 9], [2, 3])
    assert item["position_ids"].tolist() == [0, 1, 0, 1, 2] and item["loss_mask"].tolist() == [0, 1, 0, 1, 1]
