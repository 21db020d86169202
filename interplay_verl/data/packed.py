"""The packed corpus as a verl SFT dataset (``data.custom_cls``), in no-padding mode.

One item is one block of whole documents. Positions restart at every document: with
``model.use_remove_padding=True`` verl flattens a micro-batch and passes no attention mask,
and transformers then derives a block-diagonal causal mask from the position resets (sdpa on
CPU, varlen flash attention on GPU), so no token attends across a document. The loss mask is
0 at each document's first token, the one position that would otherwise learn to predict a
document from the previous one's EOS (verl shifts the mask across the flattened batch).

Blocks are read lazily, one parquet row group at a time, so a 10B-token corpus does not
have to fit in each rank's memory.
"""

from __future__ import annotations

import bisect
import os
from collections import OrderedDict

import numpy as np
import torch
from torch.utils.data import Dataset

from interplay_verl.atomic import parquet_files


def corpus_files(paths) -> list[str]:
    """verl passes ``data.train_files`` as a path or list; a corpus directory stands for its shards."""
    paths = [paths] if isinstance(paths, str) else list(paths)
    files: list[str] = []
    for path in paths:
        try:
            files.extend(parquet_files(os.path.expanduser(str(path))))
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no parquet blocks (build it with `interplay-verl corpus`)") from None
    return files


def block_tensors(input_ids, doc_lens) -> dict[str, torch.Tensor]:
    """Positions restart at each document; the loss mask is 0 on each document's first token."""
    ids = np.array(input_ids, dtype=np.int64)  # a copy: arrow buffers are read-only
    lens = np.asarray(doc_lens, dtype=np.int64)
    if int(lens.sum()) != len(ids):
        raise ValueError(f"block has {len(ids)} tokens but its documents sum to {int(lens.sum())}")
    starts = np.cumsum(lens) - lens
    positions = np.arange(len(ids), dtype=np.int64) - np.repeat(starts, lens)  # numpy: torch's is ~1000x slower here
    loss_mask = np.ones(len(ids), dtype=np.int64)
    loss_mask[starts] = 0
    return {"input_ids": torch.from_numpy(ids), "position_ids": torch.from_numpy(positions),
            "loss_mask": torch.from_numpy(loss_mask)}


class PackedCorpusDataset(Dataset):
    CACHED_GROUPS = 256  # ~128 MB of 2048-token blocks per process

    def __init__(self, parquet_files, tokenizer=None, config=None, processor=None, max_samples: int = -1):
        import pyarrow.parquet as pq

        self.files = corpus_files(parquet_files)
        self.groups: list[tuple[int, int]] = []  # (file, row group)
        starts = [0]
        for f, path in enumerate(self.files):
            parquet = pq.ParquetFile(path)
            meta = parquet.metadata
            if not {"input_ids", "doc_lens"} <= set(parquet.schema_arrow.names):
                raise ValueError(f"{path}: not a packed corpus shard (needs input_ids and doc_lens columns)")
            for g in range(meta.num_row_groups):
                self.groups.append((f, g))
                starts.append(starts[-1] + meta.row_group(g).num_rows)
        self.starts = starts
        self.length = starts[-1] if max_samples is None or max_samples <= 0 else min(starts[-1], max_samples)
        self._cache: OrderedDict[int, list] = OrderedDict()

    def __len__(self) -> int:
        return self.length

    def _group(self, g: int):
        """One decoded row group as flat numpy arrays: converting to Python lists costs ~50 ms a
        group, which random access (verl shuffles) would pay on almost every item."""
        import pyarrow.parquet as pq

        if g in self._cache:
            self._cache.move_to_end(g)
            return self._cache[g]
        f, rg = self.groups[g]
        table = pq.ParquetFile(self.files[f]).read_row_group(rg, columns=["input_ids", "doc_lens"])
        arrays = []
        for name in ("input_ids", "doc_lens"):
            column = table.column(name).combine_chunks()
            arrays += [column.values.to_numpy(), column.offsets.to_numpy()]
        self._cache[g] = arrays
        if len(self._cache) > self.CACHED_GROUPS:
            self._cache.popitem(last=False)
        return arrays

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        g = bisect.bisect_right(self.starts, index) - 1
        ids, id_offsets, lens, len_offsets = self._group(g)
        row = index - self.starts[g]
        return block_tensors(ids[id_offsets[row]:id_offsets[row + 1]], lens[len_offsets[row]:len_offsets[row + 1]])
