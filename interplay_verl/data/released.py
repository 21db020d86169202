"""``interplay-verl import --format paper``: the paper's released problem rows -> this project's rows.

The authors released their problems as rows of ``problem, question, solution, op, template,
mode`` (jsonl or parquet) with no gold graph; every stage here (evaluate, filter, rl-data)
scores against one. The graph is rebuilt by parsing the gold solution with the verifier's own
parser, and a row is kept only if its gold solution then verifies at 1.0 against it: a row
whose graph cannot be rebuilt is counted, listed in ``report.json`` with its file, line and
reason, and left out, never silently.

Input is checked whole before anything is written (bad JSON or UTF-8, a missing column, an
unknown template or mode, an empty file: one error naming file, line and field). Shards are
published atomically and a manifest is written last, so a killed import resumes by running
the same command again, and a finished one run again changes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from fractions import Fraction
from typing import Any, Optional

from interplay_verl.atomic import PARTIAL_PREFIX, atomic_write_parquet, atomic_write_text, file_sha256
from interplay_verl.problems.render import rl_prompt, training_text
from interplay_verl.problems.rows import canonical_graph, content_id

REQUIRED = ("problem", "question", "solution", "op", "template", "mode")
# the released generator's names -> ours (contexts A, B, C; the two modes)
TEMPLATES = {"crazy_zootopia": "zoo", "teachers_in_school": "school", "movie_festival_awards": "festival"}
MODES = {"normalforward": "forward", "forwardreverse": "reverse"}
VERSION = "paper"  # generator_version of imported rows
IMPORTER_VERSION = 2  # in the plan: an import begun by another version is not resumed into mixed shards
PLAN_FILE = "plan.json"
_ANSWER_TAIL = re.compile(r"\s*Answer:\s*([^\s]*?)\.?\s*$")


class ReleasedDataError(ValueError):
    """Input that is not the released format: names the file, the line and the field."""


class Unrebuildable(Exception):
    """A well-formed row whose gold graph cannot be rebuilt from its solution (reported, skipped)."""


def input_files(path: str, skip: Optional[str] = None) -> list[str]:
    """The jsonl / parquet files of ``path`` (a file, or a directory searched recursively, without
    the directory ``skip``: an output directory inside the input), sorted."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise ReleasedDataError(f"--in {path}: no such file or directory")
    root = os.path.realpath(path)
    skip = os.path.realpath(skip) if skip else None
    if skip == root:
        raise ReleasedDataError(f"--out {skip}: the same directory as --in; choose another")
    inside = skip if skip and os.path.commonpath([root, skip]) == root else None  # --out strictly inside --in
    found = sorted(os.path.join(d, f) for d, _, files in os.walk(path) for f in files
                   if f.endswith((".jsonl", ".parquet"))
                   and not (inside and os.path.realpath(os.path.join(d, f)).startswith(inside + os.sep)))
    if not found:
        raise ReleasedDataError(f"--in {path}: no .jsonl or .parquet files")
    return found


def records(path: str) -> Iterator[tuple[int, dict]]:
    """(line, record) of one input file; line is 1-based (the row number for parquet)."""
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:
            raise ReleasedDataError(f"{path}: not a readable parquet file ({exc})") from None
        for i, row in enumerate(table.to_pylist(), 1):
            yield i, row
        return
    with open(path, "rb") as f:
        for i, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ReleasedDataError(f"{path}:{i}: not UTF-8 (byte {exc.start})") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ReleasedDataError(f"{path}:{i}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(row, dict):
                raise ReleasedDataError(f"{path}:{i}: a JSON object per line expected, got {type(row).__name__}")
            yield i, row


def check_record(path: str, line: int, row: dict) -> None:
    """The row has the released columns with values this importer can map."""
    missing = [c for c in REQUIRED if c not in row or row[c] is None]
    if missing:
        raise ReleasedDataError(f"{path}:{line}: missing field(s) {', '.join(missing)} "
                                f"(the released rows hold {', '.join(REQUIRED)})")
    for field_name in ("problem", "question", "solution"):
        if not isinstance(row[field_name], str):
            raise ReleasedDataError(f"{path}:{line}: field {field_name} must be text, got {type(row[field_name]).__name__}")
    if row["template"] not in TEMPLATES:
        raise ReleasedDataError(f"{path}:{line}: field template {row['template']!r} is not one of {', '.join(TEMPLATES)}")
    if row["mode"] not in MODES:
        raise ReleasedDataError(f"{path}:{line}: field mode {row['mode']!r} is not one of {', '.join(MODES)}")
    try:
        op = int(row["op"])
    except (TypeError, ValueError):
        op = None
    if op is None or op < 1 or str(row["op"]).strip() != str(op):
        raise ReleasedDataError(f"{path}:{line}: field op {row['op']!r} is not a positive whole number")


def _whole(value: Any) -> Optional[int]:
    if isinstance(value, int):
        return value
    if isinstance(value, Fraction) and value.denominator == 1:
        return int(value)
    return None


def rebuild_graph(solution: str, mode: str) -> tuple[str, str]:
    """(canonical graph JSON, answer) from a gold solution, or raise ``Unrebuildable``.

    Nodes are the solution's steps as the verifier parses them; the target is the last step's
    quantity, the hidden quantity (reverse mode) the step that does not know its value."""
    from interplay_verl.verify.compare import GoldGraph, compare
    from interplay_verl.verify.parse import TOO_MANY, UNBOUND, parse_solution

    parsed = parse_solution(solution)
    if not parsed.nodes:
        raise Unrebuildable("no steps parse")
    answer = _whole(parsed.answer)
    if answer is None:
        raise Unrebuildable("no whole-number answer")
    nodes, hidden = [], None
    for name, node in parsed.nodes.items():
        value = _whole(node.value)
        if value is None:
            raise Unrebuildable(f"step {name!r} has no whole-number value")
        if UNBOUND in node.parents or TOO_MANY in node.parents:
            raise Unrebuildable(f"step {name!r} uses a letter no step defined")
        if mode == "reverse" and hidden is None and not node.parents and node.linear == (1, 0):
            hidden = name
        nodes.append({"name": name, "value": value, "parents": list(node.parents), "necessary": True})
    if mode == "reverse" and hidden is None:
        raise Unrebuildable("reverse mode without a hidden quantity")
    graph = {"target": nodes[-1]["name"], "hidden": hidden, "nodes": nodes}
    asked = hidden or graph["target"]
    if next(n["value"] for n in nodes if n["name"] == asked) != answer:
        raise Unrebuildable(f"the answer {answer} is not the value of {asked!r}")
    text = canonical_graph(graph)
    report = compare(parsed, GoldGraph.from_graph(text))
    if report.process_reward != 1.0 or not report.answer_correct:
        raise Unrebuildable("the gold solution does not verify against its rebuilt graph")
    return text, str(answer)


def convert(row: dict, line: int) -> dict:
    """One released row -> one of our rows (raises ``Unrebuildable``); unknown columns kept."""
    mode = MODES[row["mode"]]
    graph, answer = rebuild_graph(row["solution"], mode)
    body = _ANSWER_TAIL.sub("", row["solution"]).strip()
    problem, question = row["problem"].strip(), row["question"].strip()
    out = {
        "id": content_id(graph, problem, question),
        "problem": problem,
        "question": question,
        "solution": row["solution"],
        "answer": answer,
        "op": int(row["op"]),
        "context": TEMPLATES[row["template"]],
        "mode": mode,
        "graph": graph,
        "text": training_text(problem, question, body, answer),
        "prompt": rl_prompt(problem, question),
        "seed": None,
        "index": line,
        "generator_version": VERSION,
        "template": row["template"],
        "source_mode": row["mode"],
    }
    for key, value in row.items():  # every other released column, renamed if it would collide
        if key not in REQUIRED:
            out[kept_name(key)] = value
    return out


def kept_name(key: str) -> str:
    """The name a released column other than the six mapped ones keeps: ``source_<key>`` if ours has
    the name or it starts with ``source_`` itself (so ``id`` and ``source_id`` stay two columns)."""
    from interplay_verl.data.rows import COLUMNS

    taken = key in COLUMNS or key in ("template", "source_mode") or key.startswith("source_")
    return f"source_{key}" if taken else key


def value_kind(value: Any) -> str:
    """The kind of a released value that decides its column's type (``extra_schema``)."""
    kind = type(value).__name__
    return "bigint" if kind == "int" and not -2 ** 63 <= value < 2 ** 63 else kind


def extra_schema(types: dict[str, set[str]]):
    """One pyarrow type per kept released column, from the Python types seen in the whole input, so
    every shard has the same schema: bool, int64, float64 or string, else JSON text (``str`` for what
    JSON cannot hold: dates, decimals, bytes)."""
    import pyarrow as pa

    by_kinds = {frozenset({"bool"}): pa.bool_(), frozenset({"int"}): pa.int64(), frozenset({"float"}): pa.float64(),
                frozenset({"int", "float"}): pa.float64(), frozenset({"str"}): pa.string()}
    return {kept_name(k): by_kinds.get(frozenset(kinds), "json") for k, kinds in sorted(types.items())}


def _table(rows: list[dict], extras: dict):
    """Our schema first, then the kept released columns with the types ``extra_schema`` chose."""
    import pyarrow as pa

    from interplay_verl.data.rows import schema

    base = schema()
    columns = {name: pa.array([r.get(name) for r in rows], type=base.field(name).type) for name in base.names}
    columns["template"] = pa.array([r["template"] for r in rows], type=pa.string())
    columns["source_mode"] = pa.array([r["source_mode"] for r in rows], type=pa.string())
    for name, kind in extras.items():
        values = [r.get(name) for r in rows]
        if kind == "json":
            columns[name] = pa.array([None if v is None else json.dumps(v, sort_keys=True, default=str)
                                      for v in values], type=pa.string())
        else:
            columns[name] = pa.array(values, type=kind)
    return pa.table(columns)


def _publish(out: str, name: str, rows: list[dict], source: str, shards: list[dict], extras: dict) -> int:
    """Write one shard unless a previous run did (resume); record it. Returns shards written."""
    if not rows:
        return 0
    shards.append({"file": name, "rows": len(rows), "source": os.path.abspath(source)})
    target = os.path.join(out, name)
    if os.path.exists(target):
        return 0
    atomic_write_parquet(_table(rows, extras), target)
    return 1


def import_released(source: str, out: str, *, shard_size: int = 50_000, quiet: bool = False) -> dict:
    """Convert every released row under ``source`` into parquet shards under ``out`` (+ report, manifest)."""
    from tqdm import tqdm

    from interplay_verl.manifest import write_manifest

    if shard_size < 1:
        raise ReleasedDataError(f"--shard-size {shard_size}: must be at least 1")
    files = input_files(source, skip=out)
    counts, types = [], {}
    for path in files:  # the whole input is checked before anything is written
        n = 0
        for line, row in records(path):
            check_record(path, line, row)
            for key, value in row.items():
                if key not in REQUIRED and value is not None:
                    types.setdefault(key, set()).add(value_kind(value))
            n += 1
        if n == 0:
            raise ReleasedDataError(f"{path}: empty (no rows)")
        counts.append(n)

    plan = json.dumps({"format": "paper", "shard_size": shard_size, "version": VERSION, "importer": IMPORTER_VERSION,
                       "inputs": [{"file": os.path.abspath(p), "sha256": file_sha256(p), "rows": n}
                                  for p, n in zip(files, counts)]}, sort_keys=True, indent=1)
    os.makedirs(out, exist_ok=True)
    plan_path, manifest_path = os.path.join(out, PLAN_FILE), os.path.join(out, "manifest.json")
    if os.path.exists(plan_path):
        with open(plan_path) as f:
            if f.read() != plan:
                raise ReleasedDataError(f"{out} holds a different import (its {PLAN_FILE} differs); choose a new --out")
        if os.path.exists(manifest_path):  # finished: a second run changes nothing
            with open(os.path.join(out, "report.json")) as f:
                done = json.load(f)
            done.pop("skipped_rows")
            return {**done, "written": 0}
    atomic_write_text(plan_path, plan)
    for stale in [f for f in os.listdir(out) if f.startswith(PARTIAL_PREFIX)]:
        os.unlink(os.path.join(out, stale))

    extras = extra_schema(types)
    seen: dict[str, str] = {}  # id -> file:line of its first row (a problem is imported once)
    start, written, imported, skipped, shards = time.time(), 0, 0, [], []
    by_reason: dict[str, int] = {}
    with tqdm(total=sum(counts), unit="row", desc="import", disable=quiet) as progress:
        for number, path in enumerate(files):
            batch: list[dict] = []
            chunk = 0
            for i, (line, row) in enumerate(records(path), 1):
                try:
                    converted = convert(row, line)
                    if converted["id"] in seen:
                        raise Unrebuildable(f"the same problem as {seen[converted['id']]}")
                    seen[converted["id"]] = f"{os.path.basename(path)}:{line}"
                    batch.append(converted)
                    imported += 1
                except Unrebuildable as why:
                    skipped.append({"file": os.path.abspath(path), "line": line, "reason": str(why)})
                    key = re.sub(r"'[^']*'|\S+:\d+$", "<name>", str(why))
                    by_reason[key] = by_reason.get(key, 0) + 1
                progress.update(1)
                if i % shard_size == 0 or i == counts[number]:
                    written += _publish(out, f"released-{number:04d}-{chunk:05d}.parquet", batch, path, shards, extras)
                    batch, chunk = [], chunk + 1
    result = {"rows": imported, "skipped": len(skipped), "skipped_by_reason": by_reason, "shards": len(shards),
              "out": os.path.abspath(out)}
    atomic_write_text(os.path.join(out, "report.json"),
                      json.dumps({**result, "skipped_rows": skipped}, indent=1, sort_keys=True) + "\n")
    write_manifest(out, config=json.loads(plan), seed=None, kind="problems", rows=imported, shards=shards,
                   imported_from="paper", skipped=len(skipped))
    return {**result, "written": written, "seconds": round(time.time() - start, 2)}


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="interplay-verl import", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--format", required=True, choices=["paper"],
                   help="paper: the authors' released rows (problem, question, solution, op, template, mode)")
    p.add_argument("--in", dest="source", required=True, help="a .jsonl or .parquet file, or a directory of them")
    p.add_argument("--out", required=True, help="output directory: parquet shards, report.json, manifest.json")
    p.add_argument("--shard-size", type=int, default=50_000, help="input rows per output shard")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    from interplay_verl.command import report

    return report("import", lambda: import_released(args.source, args.out, shard_size=args.shard_size,
                                                    quiet=args.quiet), (ValueError, OSError))


if __name__ == "__main__":
    sys.exit(main())
