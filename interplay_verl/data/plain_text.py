"""Plain-text documents as a verl SFT dataset (``data.custom_cls``), in no-padding mode.

verl's SFT datasets are chat-shaped; pre-training is not. Each row's ``text`` becomes one
sample on which every token is trained, except position 0: in no-padding mode verl shifts
the loss mask across the flattened batch, so an unmasked first position would train the
previous sample's last token to predict this sample's first.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch.utils.data import Dataset


class PlainTextSFTDataset(Dataset):
    def __init__(self, parquet_files, tokenizer, config, processor=None, max_samples: int = -1):
        files = [parquet_files] if isinstance(parquet_files, str) else list(parquet_files)
        self.text_key = config.get("text_key", "text") if hasattr(config, "get") else "text"
        frame = pd.concat([pd.read_parquet(f, columns=[self.text_key]) for f in files], ignore_index=True)
        if max_samples is not None and max_samples > 0:
            frame = frame.iloc[:max_samples]
        self.max_length = int(config.get("max_length", 1024))
        self.truncation = config.get("truncation", "error")
        self.tokenizer = tokenizer
        self.texts = frame[self.text_key].tolist()
        self.add_eos = bool(config.get("add_eos", True))

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        ids = self.tokenizer(self.texts[index], add_special_tokens=False)["input_ids"]
        if self.add_eos:
            ids = ids + [self.tokenizer.eos_token_id]
        if len(ids) > self.max_length:
            if self.truncation != "right":
                raise ValueError(
                    f"sample {index} has {len(ids)} tokens > data.max_length={self.max_length}; "
                    "raise data.max_length or set data.truncation=right"
                )
            ids = ids[: self.max_length]
        input_ids = torch.tensor(ids, dtype=torch.long)
        loss_mask = torch.ones_like(input_ids)
        loss_mask[0] = 0
        return {
            "input_ids": input_ids,
            "position_ids": torch.arange(len(ids), dtype=torch.long),
            "loss_mask": loss_mask,
        }
