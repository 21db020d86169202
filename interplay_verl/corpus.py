"""``interplay-verl corpus``: generated rows -> tokenized documents packed into fixed-length blocks.

A block holds whole documents (``text`` + EOS) and their lengths; nothing is split across
blocks, and the training dataset (``interplay_verl.data.packed``) restarts positions at every
document so attention and loss never cross a document boundary. Documents are placed by
best-fit decreasing within windows of a few thousand, which keeps packing efficiency (real
tokens / block capacity) near 99% for the paper's op mixtures while staying deterministic.

The op/context mixture and the token budget are the generator's (``interplay-verl generate
--ops <preset> --tokens N``); this step only tokenizes and packs, so one generation can feed
several block sizes or tokenizers.
"""

from __future__ import annotations

import argparse
import bisect
import glob
import json
import os
import sys
import time
from typing import Optional

from interplay_verl.atomic import PARTIAL_PREFIX, atomic_write_parquet
from interplay_verl.data.rows import RowsError, iter_texts, row_files

DEFAULT_BLOCK = 2048
WINDOW = 8192  # documents packed together; larger packs tighter, costs memory
SHARD_BLOCKS = 4096  # blocks per parquet shard
ROW_GROUP = 64  # blocks per parquet row group: the unit a random read decodes


class CorpusError(ValueError):
    """A corpus that cannot be built (bad block size, no rows, a tokenizer without EOS)."""


def pack(lengths: list[int], block_size: int) -> list[list[int]]:
    """Best-fit decreasing: indices of ``lengths`` per block, each block's total <= block_size."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    free: list[tuple[int, int]] = []  # (space left, block number), sorted
    blocks: list[list[int]] = []
    for i in order:
        need = lengths[i]
        at = bisect.bisect_left(free, (need, -1))
        if at < len(free):
            space, b = free.pop(at)
        else:
            space, b = block_size, len(blocks)
            blocks.append([])
        blocks[b].append(i)
        if space - need > 0:
            bisect.insort(free, (space - need, b))
    return blocks


def _table(blocks: list[tuple[list[int], list[int]]]):
    import pyarrow as pa

    return pa.table({
        "input_ids": pa.array([ids for ids, _ in blocks], type=pa.list_(pa.int32())),
        "doc_lens": pa.array([lens for _, lens in blocks], type=pa.list_(pa.int32())),
    })


def build(rows: str, tokenizer_dir: str, out: str, block_size: int = DEFAULT_BLOCK, max_docs: Optional[int] = None,
          quiet: bool = False, exclude_ids: Optional[set] = None) -> dict:
    """Tokenize ``rows`` and pack them into blocks under ``out``; rows whose id is in ``exclude_ids``
    (held-out evaluation problems) are not trained on."""
    import pyarrow.parquet as pq
    from tqdm import tqdm
    from interplay_verl.manifest import invalidate, write_manifest
    from interplay_verl.tokenizer import load_tokenizer

    if block_size < 16:
        raise CorpusError(f"--block-size {block_size}: must be >= 16")
    files = row_files(rows)
    tokenizer = load_tokenizer(tokenizer_dir)
    if tokenizer.eos_token_id is None:
        raise CorpusError(f"{tokenizer_dir}: tokenizer has no EOS token (build it with `interplay-verl tokenizer`)")
    invalidate(out)
    os.makedirs(out, exist_ok=True)
    for stale in glob.glob(os.path.join(out, "*.parquet")) + glob.glob(os.path.join(out, PARTIAL_PREFIX + "*")):
        os.unlink(stale)  # a rebuild replaces the corpus whole

    stats = {"documents": 0, "tokens": 0, "blocks": 0, "too_long": 0, "longest": 0}
    shards: list[dict] = []
    pending: list[tuple[list[int], list[int]]] = []

    def flush(final: bool) -> None:
        while len(pending) >= SHARD_BLOCKS or (final and pending):
            chunk = pending[:SHARD_BLOCKS]
            del pending[:SHARD_BLOCKS]
            name = f"blocks-{len(shards):05d}.parquet"
            atomic_write_parquet(_table(chunk), os.path.join(out, name), row_group_size=ROW_GROUP)  # small groups: one random read decodes one
            shards.append({"file": name, "blocks": len(chunk)})

    def pack_window(docs: list[list[int]]) -> None:
        for members in pack([len(d) for d in docs], block_size):
            ids: list[int] = []
            for i in members:
                ids.extend(docs[i])
            pending.append((ids, [len(docs[i]) for i in members]))
        flush(final=False)

    start = time.time()
    eos = tokenizer.eos_token_id
    window: list[list[int]] = []
    batch: list[str] = []
    total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    total = min(total, max_docs) if max_docs else total
    with tqdm(total=total, unit="doc", desc="corpus", disable=quiet) as progress:
        def tokenize(texts: list[str]) -> None:
            for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
                ids.append(eos)
                stats["longest"] = max(stats["longest"], len(ids))
                if len(ids) > block_size:
                    stats["too_long"] += 1
                    continue
                stats["documents"] += 1
                stats["tokens"] += len(ids)
                window.append(ids)
            progress.update(len(texts))

        held_out: list[str] = []
        for text in iter_texts(rows, limit=max_docs, skip_ids=exclude_ids, skipped=held_out):
            batch.append(text)
            if len(batch) == 1024:
                tokenize(batch)
                batch = []
            if len(window) >= WINDOW:
                pack_window(window)
                window = []
        if batch:
            tokenize(batch)
        if window:
            pack_window(window)
    stats["blocks"] = sum(s["blocks"] for s in shards) + len(pending)
    flush(final=True)
    if not stats["documents"]:
        raise CorpusError(f"{rows}: no document fits in --block-size {block_size} (longest: {stats['longest']} tokens)")
    if stats["too_long"]:
        print(f"corpus: {stats['too_long']} documents longer than --block-size {block_size} were left out "
              f"(longest {stats['longest']} tokens)", file=sys.stderr)
    stats["packing_efficiency"] = round(stats["tokens"] / (stats["blocks"] * block_size), 5)
    if exclude_ids:
        stats["held_out"] = len(held_out)  # rows of the source not trained on
    stats["seconds"] = round(time.time() - start, 2)
    source = os.path.join(rows, "manifest.json") if os.path.isdir(rows) else None
    generation = json.load(open(source)) if source and os.path.exists(source) else None
    write_manifest(out, config={"rows": os.path.abspath(rows), "tokenizer": os.path.abspath(tokenizer_dir),
                                "block_size": block_size, "max_docs": max_docs, "window": WINDOW},
                   seed=(generation or {}).get("seed"), kind="packed_corpus", stats=stats, shards=shards,
                   generation_config=(generation or {}).get("config"))
    return stats


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="interplay-verl corpus", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--rows", required=True, help="output directory of `interplay-verl generate` (or a parquet file)")
    p.add_argument("--tokenizer", required=True, help="Hugging Face tokenizer directory")
    p.add_argument("--out", required=True, help="corpus directory (blocks-*.parquet + manifest.json)")
    p.add_argument("--block-size", type=int, default=DEFAULT_BLOCK, help="tokens per block")
    p.add_argument("--max-docs", type=int, help="use only the first N documents")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    from interplay_verl.command import report

    return report("corpus", lambda: build(args.rows, args.tokenizer, args.out, args.block_size, args.max_docs,
                                          args.quiet), (CorpusError, RowsError))


if __name__ == "__main__":
    sys.exit(main())
