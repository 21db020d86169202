"""Train / RL / eval sets must be disjoint by problem ``id`` (docs/method.md#4-rows-and-splits).

Small ops have small problem spaces, so independently generated sets can share problems;
``check`` reports every pairwise overlap and ``exclude`` drops from one set whatever
another already holds (e.g. remove eval problems from the training corpus).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from typing import Optional

from interplay_verl.atomic import atomic_write_parquet
from interplay_verl.data.rows import read_ids, row_files


def overlap_report(paths: list[str]) -> dict:
    ids = {p: read_ids(p) for p in paths}
    pairs = [{"a": a, "b": b, "overlap": len(ids[a] & ids[b])} for a, b in itertools.combinations(paths, 2)]
    return {"sizes": {p: len(v) for p, v in ids.items()}, "pairs": pairs,
            "disjoint": all(p["overlap"] == 0 for p in pairs)}


def exclude(source: str, against: list[str], out_file: str) -> dict:
    """Write ``source`` minus every id found in ``against`` to ``out_file`` (atomically)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    banned = set().union(*(read_ids(p) for p in against)) if against else set()
    table = pa.concat_tables([pq.read_table(f) for f in row_files(source)])
    keep = pc.invert(pc.is_in(table.column("id"), value_set=pa.array(sorted(banned), type=pa.string())))
    kept = table.filter(keep)
    atomic_write_parquet(kept, out_file)
    return {"source_rows": table.num_rows, "kept": kept.num_rows, "dropped": table.num_rows - kept.num_rows}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="interplay-verl splits", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    check = sub.add_parser("check", help="report id overlap between every pair of datasets; exit 1 if any")
    check.add_argument("datasets", nargs="+", help="parquet files or directories of shards")
    excl = sub.add_parser("exclude", help="drop from SOURCE every problem present in the AGAINST datasets")
    excl.add_argument("source")
    excl.add_argument("--against", nargs="+", required=True)
    excl.add_argument("--out", required=True, help="output parquet file")
    args = parser.parse_args(argv)
    if args.cmd == "check":
        report = overlap_report(args.datasets)
        print(json.dumps(report, indent=1))
        return 0 if report["disjoint"] else 1
    print(json.dumps(exclude(args.source, args.against, args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
