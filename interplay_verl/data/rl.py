"""Generator rows -> verl's RL parquet schema (docs/method.md#4-rows-and-splits), gold graph in ``extra_info``.

The prompt is the raw training string up to ``<solution>``: base models have no chat
template, and our tokenizer's template is the identity, so verl's chat-list prompt tokenizes
to exactly that string. ``extra_info.index`` is the row's position in the file: verl copies it
into every trajectory, and the online filter keys its per-prompt pass rates by it.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

def rl_record(row: dict, index: int) -> dict:
    return {
        "data_source": f"interplay/{row['context']}/op{row['op']}",
        "prompt": [{"role": "user", "content": row["prompt"]}],
        "ability": "reasoning",
        "reward_model": {"style": "rule", "ground_truth": str(row["answer"])},
        "extra_info": {"index": index, "id": row["id"], "op": int(row["op"]), "context": row["context"],
                       "mode": row["mode"], "graph": row["graph"], "gold_solution": row.get("solution")},
    }


def write_rl_parquet(rows: list[dict], path: str) -> str:
    """Atomically write ``rows`` (generator rows) as an RL parquet file; returns the path."""
    import pyarrow as pa

    from interplay_verl.atomic import atomic_write_parquet

    if not rows:
        raise ValueError(f"{path}: no rows to write (an RL set needs at least one prompt)")
    records = [rl_record(r, i) for i, r in enumerate(rows)]
    atomic_write_parquet(pa.Table.from_pylist(records), path)
    return path


def check_rl_parquet(path: str) -> int:
    """Every row needs its own ``extra_info.index``: the online filter keys its per-prompt counts by
    it, and verl silently uses 0 for a row without one (all such prompts would share one count)."""
    import pyarrow.parquet as pq

    names = pq.ParquetFile(path).schema_arrow.names
    if "extra_info" not in names:
        raise ValueError(f"{path}: no extra_info column; RL rows need extra_info.index (write them with "
                         "`interplay-verl rl-data` or `interplay-verl filter`)")
    infos = pq.read_table(path, columns=["extra_info"]).column("extra_info").to_pylist()
    missing = [i for i, info in enumerate(infos) if not isinstance(info, dict) or info.get("index") is None]
    if missing:
        raise ValueError(f"{path}: {len(missing)} row(s) without extra_info.index (first: row {missing[0]}); the "
                         "online filter counts passes per index, and verl would give them all index 0")
    indices = [info["index"] for info in infos]
    if len(set(indices)) != len(indices):
        raise ValueError(f"{path}: extra_info.index repeats ({len(indices) - len(set(indices))} duplicates); "
                         "each prompt needs its own")
    return len(indices)


def read_rl_parquet(path: str) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="interplay-verl rl-data", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--rows", required=True, help="generated rows (`interplay-verl generate` output)")
    parser.add_argument("--out", required=True, help="RL parquet file to write")
    parser.add_argument("--limit", type=int, help="first N rows, spread over op/context/mode")
    args = parser.parse_args(argv)
    from interplay_verl.command import report
    from interplay_verl.data.rows import load_rows, spread

    def work() -> dict:
        rows = load_rows(args.rows)
        if args.limit:
            rows = spread(rows, args.limit)
        write_rl_parquet(rows, args.out)
        return {"rows": len(rows), "out": os.path.abspath(args.out)}

    return report("rl-data", work, (ValueError, OSError))


if __name__ == "__main__":
    sys.exit(main())
