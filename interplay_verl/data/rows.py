"""Generated rows: the one schema the generator writes and every later stage reads.

A row is one problem (docs/method.md#4-rows-and-splits): its text in the paper's format,
its gold graph, op, context, mode and a content-hash ``id``. A row set is a parquet file or
a directory of parquet shards (the generator's output), always read in name order so that
"the first n rows" means the same rows everywhere.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Optional
from collections.abc import Iterator, Sequence

from interplay_verl.atomic import parquet_files

COLUMNS = ("id", "problem", "question", "solution", "answer", "op", "context", "mode", "graph", "text", "prompt",
           "seed", "index", "generator_version")
# what sampling, scoring and RL data need of a row (the gold solution: for the paper's reward semantics)
TASK_COLUMNS = ("id", "prompt", "answer", "graph", "solution", "op", "context", "mode")


class RowsError(ValueError):
    """A path that holds no generated rows, or rows without a needed column."""


def schema():
    import pyarrow as pa

    types = {"op": pa.int32(), "seed": pa.int64(), "index": pa.int64()}
    return pa.schema([(c, types.get(c, pa.string())) for c in COLUMNS])


def row_files(rows: str) -> list[str]:
    """Parquet shards of a generation directory (or one parquet file), in a fixed order."""
    try:
        return parquet_files(rows)
    except FileNotFoundError:
        raise RowsError(f"{rows}: no parquet shards (expected the output of `interplay-verl generate`)") from None


def _columns(path: str, wanted: Sequence[str]) -> None:
    import pyarrow.parquet as pq

    names = pq.ParquetFile(path).schema_arrow.names
    missing = [c for c in wanted if c not in names]
    if missing:
        raise RowsError(f"{path}: no column(s) {missing} (has {', '.join(names)})")


def iter_texts(rows: str, column: str = "text", limit: Optional[int] = None,
               skip_ids: Optional[set] = None, skipped: Optional[list] = None) -> Iterator[str]:
    """One column of every row, streamed file by file (a 10B-token corpus never sits in memory);
    rows whose id is in ``skip_ids`` are left out, each appended to ``skipped`` if given (``limit``
    counts the rows yielded)."""
    import pyarrow.parquet as pq

    n = 0
    for path in row_files(rows):
        _columns(path, [column, "id"] if skip_ids else [column])
        table = pq.read_table(path, columns=[column, "id"] if skip_ids else [column])
        ids = table.column("id").to_pylist() if skip_ids else None
        for i, text in enumerate(table.column(column).to_pylist()):
            if ids is not None and ids[i] in skip_ids:
                if skipped is not None:
                    skipped.append(ids[i])
                continue
            if limit is not None and n >= limit:
                return
            n += 1
            yield text


def load_rows(rows: str, limit: Optional[int] = None, columns: Sequence[str] = TASK_COLUMNS) -> list[dict]:
    """Rows of a row set as dicts, in file order, keeping ``columns``."""
    import pyarrow.parquet as pq

    out: list[dict] = []
    for path in row_files(rows):
        _columns(path, columns)
        out.extend(pq.read_table(path, columns=list(columns)).to_pylist())
        if limit is not None and len(out) >= limit:
            return out[:limit]
    return out


def spread(rows: list[dict], n: int) -> list[dict]:
    """``n`` rows taken round-robin over (op, context, mode), so a small n still covers every op."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["op"], row["context"], row["mode"])].append(row)
    picked, queues = [], [groups[k] for k in sorted(groups)]
    while len(picked) < n and any(queues):
        for queue in queues:
            if queue and len(picked) < n:
                picked.append(queue.pop(0))
    return picked


def read_ids(rows: str) -> set[str]:
    import pyarrow.parquet as pq

    ids: set[str] = set()
    for path in row_files(rows):
        ids.update(pq.read_table(path, columns=["id"]).column("id").to_pylist())
    return ids


def select_rows(rows: str, ops: Sequence[int], contexts: Sequence[str], modes: Sequence[str], per_op: int,
                exclude: Optional[set] = None) -> list[dict]:
    """The first ``per_op`` rows of each (op, context, mode) asked for, in file order, skipping ids in
    ``exclude`` before counting: how a profile draws its RL candidates or evaluation problems from
    an existing row set (e.g. the paper's released rows, ``interplay-verl import``)."""
    wanted = {(int(op), c, m) for op in ops for c in contexts for m in modes}
    taken: dict[tuple, int] = defaultdict(int)
    out = []
    for row in load_rows(rows, columns=COLUMNS):
        key = (int(row["op"]), row["context"], row["mode"])
        if key in wanted and taken[key] < per_op and not (exclude and row["id"] in exclude):
            taken[key] += 1
            out.append(row)
    if not out:
        raise RowsError(f"{rows}: no rows at ops {sorted({k[0] for k in wanted})}, contexts {sorted(contexts)}, "
                        f"modes {sorted(modes)}" + (f" outside the {len(exclude)} excluded ids" if exclude else ""))
    return out
